import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const PREFIX = 'fapi_gateway_';
// Seconds; from sub-millisecond local work to slow upstreams.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STORE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1];

/** Every series the gateway exports. Label values are bounded: route templates, reasons, classes; never raw paths or user values. */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by listener, route template, method and status class.',
    labelNames: ['listener', 'route', 'method', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time from receiving a request to finishing its response.',
    labelNames: ['listener', 'route', 'method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly parRequests = new Counter({
    name: `${PREFIX}par_requests_total`,
    help: 'Pushed authorization requests, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly requestObjects = new Counter({
    name: `${PREFIX}request_objects_total`,
    help: 'Signed request objects at PAR, by outcome (accepted, or the reason refused).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly authorizations = new Counter({
    name: `${PREFIX}authorizations_total`,
    help: 'Completed authorizations, by outcome (approved, denied).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly authorizationResponses = new Counter({
    name: `${PREFIX}authorization_responses_total`,
    help: 'Authorization responses sent to a redirect URI, by response mode (query, jwt, query.jwt) and kind (code, error).',
    labelNames: ['mode', 'kind'] as const,
    registers: [this.registry],
  });
  readonly pageAssets = new Counter({
    name: `${PREFIX}page_assets_total`,
    help: 'Client logos asked for by the consent pages, by outcome (served, unavailable, unknown_client).',
    labelNames: ['asset', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly accountLists = new Counter({
    name: `${PREFIX}account_lists_total`,
    help: "Calls to the bank's accounts endpoint (ui.accounts) for the account selection, by outcome (success, failure).",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly encryptedResponses = new Counter({
    name: `${PREFIX}encrypted_responses_total`,
    help: 'Responses encrypted to a client key, by what (authorization_response, id_token, userinfo) and outcome (encrypted, failed).',
    labelNames: ['what', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly tokensIssued = new Counter({
    name: `${PREFIX}tokens_issued_total`,
    help: 'Token responses issued, by grant type.',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });
  readonly clientAuthFailures = new Counter({
    name: `${PREFIX}client_authentication_failures_total`,
    help: 'Failed client authentications, by method and reason.',
    labelNames: ['method', 'reason'] as const,
    registers: [this.registry],
  });
  readonly resourceConventionRefusals = new Counter({
    name: `${PREFIX}resource_convention_refusals_total`,
    help: "Resource calls refused by the route's ecosystem conventions, by route, stage (headers: before the token; grant: the consent or arrangement) and status.",
    labelNames: ['route', 'stage', 'status'] as const,
    registers: [this.registry],
  });
  readonly tokenRejections = new Counter({
    name: `${PREFIX}token_guard_rejections_total`,
    help: 'Access tokens refused at protected resources, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly registrations = new Counter({
    name: `${PREFIX}client_registrations_total`,
    help: 'Client registration calls (RFC 7591/7592), by operation (create, read, update, delete) and outcome (success or the error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly dpopProofsRejected = new Counter({
    name: `${PREFIX}dpop_proofs_rejected_total`,
    help: 'DPoP proofs refused, by where (authorization_server, resource) and why.',
    labelNames: ['site', 'reason'] as const,
    registers: [this.registry],
  });
  readonly introspections = new Counter({
    name: `${PREFIX}introspections_total`,
    help: 'Token introspections, by whether the token was active.',
    labelNames: ['active'] as const,
    registers: [this.registry],
  });
  readonly revocations = new Counter({
    name: `${PREFIX}revocations_total`,
    help: 'Token revocation requests, by the kind of token found.',
    labelNames: ['token_type'] as const,
    registers: [this.registry],
  });
  readonly grantManagement = new Counter({
    name: `${PREFIX}grant_management_operations_total`,
    help: "Grant management operations, by surface (admin: the bank's API; client: /grants for clients; cli), operation (list_customer, list_client, show, trail, withdraw, query, revoke) and outcome.",
    labelNames: ['surface', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly tlsConnections = new Counter({
    name: `${PREFIX}tls_connections_total`,
    help: 'TLS connections established, by listener, protocol version and whether a client certificate was presented.',
    labelNames: ['listener', 'version', 'client_certificate'] as const,
    registers: [this.registry],
  });
  readonly tlsHandshakeFailures = new Counter({
    name: `${PREFIX}tls_handshake_failures_total`,
    help: 'TLS handshakes that failed (e.g. a refused protocol version or cipher suite), by listener.',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  readonly certificateFailures = new Counter({
    name: `${PREFIX}client_certificate_verification_failures_total`,
    help: 'Client certificates whose chain did not verify against the configured CAs, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly httpAborted = new Counter({
    name: `${PREFIX}http_requests_aborted_total`,
    help: 'Requests whose response was cut short (client gone, upstream reset mid-body), by listener and route; also counted in http_requests_total.',
    labelNames: ['listener', 'route'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: `${PREFIX}upstream_request_duration_seconds`,
    help: 'Time until an upstream answered with its status line and headers, by route and status class.',
    labelNames: ['route', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Upstream calls that failed, by route and kind (overflow, timeout, refused, reset, too_large, other).',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: `${PREFIX}store_operation_duration_seconds`,
    help: 'State store operations, by operation and backend.',
    labelNames: ['operation', 'backend'] as const,
    buckets: STORE_BUCKETS,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: `${PREFIX}store_errors_total`,
    help: 'State store operations that failed, by operation and backend.',
    labelNames: ['operation', 'backend'] as const,
    registers: [this.registry],
  });
  readonly storeProblems = new Counter({
    name: `${PREFIX}store_connection_problems_total`,
    help: 'State store connection problems (failed connects, refused logins, unanswered calls), by cause.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly shedRequests = new Counter({
    name: `${PREFIX}shed_requests_total`,
    help: 'Requests refused with 503 while the process was under pressure, by listener.',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  readonly rateLimitedRequests = new Counter({
    name: `${PREFIX}rate_limited_requests_total`,
    help: 'Requests refused with 429 because their client address was past its rate, by listener.',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  /** The memory store's size, read at each scrape; set where the store is made (absent with Redis). */
  memoryStoreSize: (() => { entries: number; bytes: number }) | undefined;
  readonly memoryStoreRecords = new Gauge({
    name: `${PREFIX}memory_store_records`,
    help: 'Records in the memory store; new ones are refused at store.maxEntries.',
    registers: [this.registry],
    collect: () => void (this.memoryStoreSize && this.memoryStoreRecords.set(this.memoryStoreSize().entries)),
  });
  readonly memoryStoreBytes = new Gauge({
    name: `${PREFIX}memory_store_bytes`,
    help: 'What the memory store counts its records as; new ones are refused at store.maxBytes.',
    registers: [this.registry],
    collect: () => void (this.memoryStoreSize && this.memoryStoreBytes.set(this.memoryStoreSize().bytes)),
  });
  readonly connectionsCut = new Counter({
    name: `${PREFIX}connections_cut_total`,
    help: 'Connections closed by the server limits, by listener and reason (request_timeout, handshake_timeout, max_connections).',
    labelNames: ['listener', 'reason'] as const,
    registers: [this.registry],
  });
  readonly logLinesDropped = new Counter({
    name: `${PREFIX}log_lines_dropped_total`,
    help: 'Log lines dropped because stdout did not keep up and the log buffer was full.',
    registers: [this.registry],
  });
  readonly admissionRefused = new Counter({
    name: `${PREFIX}admission_refused_total`,
    help: 'Costly work refused with 503 because its limiter was full, by kind of work.',
    labelNames: ['work'] as const,
    registers: [this.registry],
  });
  readonly admissionQueued = new Gauge({
    name: `${PREFIX}admission_queued`,
    help: 'Costly work waiting for a slot, by kind of work.',
    labelNames: ['work'] as const,
    registers: [this.registry],
  });
  readonly admissionRunning = new Gauge({
    name: `${PREFIX}admission_running`,
    help: 'Costly work running, by kind of work.',
    labelNames: ['work'] as const,
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: `${PREFIX}logins_total`,
    help: 'Password logins, by outcome (succeeded, failed, throttled).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({
    name: `${PREFIX}login_failures_total`,
    help: 'Failed logins, by reason (credentials: unknown user or wrong password, totp: wrong or reused one-time code, throttled: refused while locked, bank: refused or aborted by the bank login or identity provider).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly auditEvents = new Counter({
    name: `${PREFIX}audit_events_total`,
    help: 'Audit records written to the audit stream, by event.',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly auditRecordsDropped = new Counter({
    name: `${PREFIX}audit_records_dropped_total`,
    help: 'Audit records dropped because the audit destination did not keep up (the chain records how many, see fapi-gateway audit verify).',
    registers: [this.registry],
  });
  readonly authorizationCodeReuse = new Counter({
    name: `${PREFIX}authorization_code_reuse_total`,
    help: 'Authorization codes presented again after they were redeemed (the grant issued from them is ended).',
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: `${PREFIX}build_info`,
    help: 'Always 1; the labels say which version runs which profile.',
    labelNames: ['version', 'profile'] as const,
    registers: [this.registry],
  });

  // Credentials reloaded without a restart (src/tls/credential-reload.ts).
  /** The certificates in use, read at every scrape: what, subject, serial and expiry. */
  certificatesInUse: (() => { what: string; subject: string; serial: string; validTo: string }[]) | undefined;
  readonly certificateExpiry = new Gauge({
    name: `${PREFIX}certificate_expiry_seconds`,
    help: 'Seconds until a certificate in use expires (negative once expired), by what (server, client_ca), subject and serial.',
    labelNames: ['what', 'subject', 'serial'] as const,
    registers: [this.registry],
    collect: () => {
      if (!this.certificatesInUse) return;
      // Reset first: a certificate replaced by a reload leaves no stale series behind.
      this.certificateExpiry.reset();
      const now = Date.now();
      for (const c of this.certificatesInUse())
        this.certificateExpiry.set({ what: c.what, subject: c.subject, serial: c.serial }, Math.round((Date.parse(c.validTo) - now) / 1000));
    },
  });
  readonly credentialReloads = new Counter({
    name: `${PREFIX}credential_reloads_total`,
    help: 'Reloads of the TLS credentials and signing keys (file change or SIGHUP), by what (tls, signing_keys) and outcome (reloaded, unchanged, refused).',
    labelNames: ['what', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(build: { version: string; profile: string }) {
    // Node process defaults, event-loop delay among them (nodejs_eventloop_lag_*).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    this.buildInfo.set(build, 1);
  }
}

export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;
