import type { Server as TlsServer } from 'node:tls';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import { Admission } from './admission/admission.js';
import { ClientRegistry } from './clients/registry.js';
import type { LoadedConfig } from './config/load.js';
import { endpointUrls } from './config/urls.js';
import type { GatewayContext } from './context.js';
import { ecosystemHooks } from './ecosystems/index.js';
import { echoInteractionId, interactionId } from './gateway/fapi-headers.js';
import { loadShedding } from './gateway/load-shedding.js';
import { checkRoutes, gatewayRoutes } from './gateway/proxy.js';
import { decideConventions } from './gateway/resource-conventions.js';
import { Grants } from './grants/grant.js';
import { DEFAULT_GRANT_INDEX_SETTINGS } from './grants/management/trail.js';
import { dpopRules } from './dpop/rules.js';
import { DpopVerifier } from './dpop/verifier.js';
import { grantLifetimes } from './grants/grant-lifetime.js';
import { answerClientError, installOAuthErrorHandling } from './http/error-handler.js';
import { useStrictForms } from './http/form-body.js';
import { noSchemaCompilers } from './http/no-schema-compilers.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { answerFrameworkError, refuseMalformedTargets } from './http/request-target.js';
import { SigningKeys } from './keys/signing-keys.js';
import { EncryptionKeys } from './keys/encryption-keys.js';
import { requestObjectMode } from './oauth/request-object/policy.js';
import { installPageErrorHandling } from './interaction/page-errors.js';
import { interactionRoutes } from './interaction/routes.js';
import { customerPages } from './interaction/ui/customer-pages.js';
import { authorizeRoute } from './oauth/authorize.js';
import { discoveryRoutes } from './oauth/discovery.js';
import { introspectRoute } from './oauth/introspect.js';
import { revokeRoute } from './oauth/revoke.js';
import { registrationRoutes } from './registration/routes.js';
import { setUpRegistration } from './registration/setup.js';
import { tokenRoute } from './oauth/token/endpoint.js';
import { userinfoRoute } from './oauth/userinfo.js';
import { jwksRoute } from './oauth/jwks.js';
import { parRoute } from './oauth/par.js';
import { checkJarmSigningKey } from './oauth/jarm/response-jwt.js';
import { healthRoutes } from './observability/health.js';
import { instrumentStore } from './observability/instrumented-store.js';
import { flushLogs, logDestination, loggerOptions } from './observability/logging.js';
import { auditStream, checkAuditFile } from './observability/audit/stream.js';
import { Metrics } from './observability/metrics.js';
import { metricsRoute } from './observability/metrics-route.js';
import { observeRequests, observeTls } from './observability/request-observer.js';
import { securityEventRecorder } from './observability/security-events.js';
import { activeTracing, checkTracingSettings, startTracing, stopTracing } from './observability/tracing/tracing.js';
import { VERSION } from './version.js';
import { createStore } from './store/create-store.js';
import { MemoryStore } from './store/memory.js';
import { storeProblemLogger } from './store/problem-log.js';
import type { Store } from './store/store.js';
import { peerCertificateSource } from './tls/forwarded-certificate.js';
import { addressBlocks } from './config/address-blocks.js';
import { ConfigError } from './config/config-error.js';
import { perIpRateLimit } from './rate-limit/per-ip-limit.js';
import { tlsPolicy } from './tls/policy.js';
import { VerifiedTokenCache } from './tokens/verified-token-cache.js';
import { loadServerCredentials, type ServerCredentials } from './tls/server-credentials.js';
import { CredentialReload, oneLine, type ReloadResult, type TlsReloadTarget } from './tls/credential-reload.js';
import { UserDirectory } from './users/directory.js';
import { stopGateway } from './server/graceful-shutdown.js';
import { ListenerDrain } from './server/listener-drain.js';
import { applyConnectionLimits, checkServerLimits, fastifyLimits, nodeServerLimits } from './server/listener-limits.js';
import { LoginThrottle } from './users/login-throttle.js';
import { SubjectIdentifiers } from './subjects/subject-identifiers.js';
import { PasswordLogin } from './users/password-login.js';
import { checkInteractionSettings } from './login/settings.js';
import { createBankLogin } from './login/create.js';
import { interactionApiListener, interactionSecureContext } from './login/external/listener.js';
import { adminListener, adminRoutesWithToken, checkGrantManagementSettings } from './grants/management/admin-listener.js';
import { clientGrantRoutes } from './grants/management/client-grant-management.js';

export interface Gateway {
  context: GatewayContext;
  public: FastifyInstance;
  mtls: FastifyInstance;
  ops: FastifyInstance;
  /** The interaction API's listener (`interaction.mode: external`). */
  interaction?: FastifyInstance;
  /** The grant management admin API's listener (`grantManagement.admin.auth: mtls`). */
  admin?: FastifyInstance;
  listen(): Promise<void>;
  /** Reads the TLS credentials and signing keys again (SIGHUP); a bad new file is refused and logged, the old kept. */
  reloadCredentials(trigger?: 'sighup' | 'request'): Promise<ReloadResult>;
  /**
   * Graceful stop: readiness turns false, the TLS listeners keep serving for `readinessDelayMs`
   * (0 unless given), then stop accepting and finish the requests in flight; whatever is still open
   * after `graceMs` is cut. Resolves true unless a request was still open at the end of the grace.
   */
  close(graceMs?: number, options?: { readinessDelayMs?: number }): Promise<boolean>;
}

export interface GatewayOptions {
  /** A pino destination or logger options override (tests capture logs this way). */
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance'];
  store?: Store;
  /** Where audit records go when `logger` is given (tests); without it they stay in that logger's lines. */
  audit?: { write(line: string): unknown };
}

/** Builds the shared context from a loaded config; fails with a ConfigError on anything wrong. */
export async function createContext(loaded: LoadedConfig, store?: Store): Promise<GatewayContext> {
  const { config, profile } = loaded;
  const hooks = await ecosystemHooks(profile.ecosystem, config.ecosystem);
  checkInteractionSettings(config);
  checkGrantManagementSettings(config);
  checkRoutes(config.routes);
  decideConventions(config.routes, hooks);
  checkServerLimits(config.server);
  checkTracingSettings(config.tracing);
  checkAuditFile(config.audit);
  const dpop = dpopRules(profile);
  // Replicas must agree on nonces: with a shared store, a shared key (one process makes its own).
  if (dpop.nonce === 'required' && config.store.type === 'redis' && !config.dpop?.nonceKey)
    throw new ConfigError('dpop.nonceKey', 'is required when the profile requires DPoP nonces and replicas share a store (or set FAPI_GATEWAY_DPOP_NONCE_KEY)');
  const subjects = new SubjectIdentifiers(profile, config.subjects?.pairwiseSecret);
  if (profile.publicBackChannel === false && config.discovery.plainEndpoints === 'public')
    throw new ConfigError('discovery.plainEndpoints', 'cannot be public: the profile serves the back channel on the mTLS listener only');
  const credentials = await loadServerCredentials(config.tls);
  const keys = await SigningKeys.load(config.keys, profile);
  const clients = await ClientRegistry.fromConfig(config.clients, profile);
  // Encryption keys serve request objects only: a profile without them neither loads nor publishes them.
  const encryptionKeys = config.keys.encryption && requestObjectMode(profile) !== 'none' ? await EncryptionKeys.load(config.keys.encryption) : undefined;
  clients.checkSigningKeys(keys.algorithms);
  checkJarmSigningKey(profile, keys);
  const metrics = config.metrics.enabled ? new Metrics({ version: VERSION, profile: profile.name }) : undefined;
  const admission = new Admission(config.admission, metrics);
  const users = new UserDirectory(config.users, admission.passwordHashing, { allowPlainPasswords: process.env.NODE_ENV === 'development' });
  const backendStore = store ?? (await createStore(config.store));
  if (metrics && backendStore instanceof MemoryStore) metrics.memoryStoreSize = () => backendStore.stats();
  const measuredStore = metrics ? instrumentStore(backendStore, config.store.type, metrics) : backendStore;
  const theStore = activeTracing()?.traceStore(measuredStore, config.store.type) ?? measuredStore;
  const urls = endpointUrls(config);
  const registrations = await setUpRegistration({ config, profile, store: theStore, clients, hooks, urls });
  const trustedProxies = config.tls.forwardedClientCertificate
    ? addressBlocks(config.tls.forwardedClientCertificate.trustedProxies, 'tls.forwardedClientCertificate.trustedProxies')
    : undefined;
  const ctx: GatewayContext = {
    config,
    profile,
    urls,
    credentials,
    keys,
    ...(encryptionKeys ? { encryptionKeys } : {}),
    clients,
    registrations,
    users,
    login: new PasswordLogin(users, new LoginThrottle(theStore, config.loginThrottle), metrics, theStore),
    admission,
    store: theStore,
    grants: new Grants(theStore, grantLifetimes(profile, hooks, clients), {
      maxPerCustomer: config.grantManagement.maxGrantsPerCustomer,
      maxPerClient: config.grantManagement.maxGrantsPerClient,
      trailRetentionSeconds: config.grantManagement.trailRetentionDays * 86_400,
      maxTrailEntries: DEFAULT_GRANT_INDEX_SETTINGS.maxTrailEntries,
    }),
    hooks,
    metrics,
    verifiedTokens: new VerifiedTokenCache(),
    dpop: new DpopVerifier(dpop, config.dpop?.nonceKey, theStore, trustedProxies),
    peerCertificate: peerCertificateSource(config.tls, () => credentials.clientCAs),
    rateLimitExempt: addressBlocks(config.rateLimit.exempt, 'rateLimit.exempt'),
    trustedProxies,
    subjects,
    pages: await customerPages(config.ui),
  };
  // Tokens verified with keys a reload took away must be verified again (and refused).
  keys.onChange(() => ctx.verifiedTokens.clear());
  if (metrics) metrics.certificatesInUse = () => certificatesInUse(ctx.credentials);
  ctx.bankLogin = await createBankLogin(ctx);
  await hooks.start?.(ctx);
  return ctx;
}

export async function createGateway(loaded: LoadedConfig, options: GatewayOptions = {}): Promise<Gateway> {
  // Before the context: its store is traced once tracing runs (main.ts starts it earlier still, for ioredis).
  const tracing = await startTracing(loaded.config.tracing);
  const ctx = await createContext(loaded, options.store);
  const { config } = ctx;
  const { metrics } = ctx;
  // Our own buffered stdout writer, unless a test brings its logger or a person wants pretty lines.
  const destination =
    options.logger === undefined && !config.log.pretty
      ? logDestination({ maxBufferBytes: config.log.maxBufferBytes, onDrop: () => metrics?.logLinesDropped.inc() })
      : undefined;
  const audit = auditStream(config, destination, metrics, { version: VERSION, profile: ctx.profile.name }, options.audit);
  const logging = loggerOptions(config.log.level, config.log.pretty, options.logger, destination, audit?.sink.route);

  const tlsAppOptions = {
    ...logging,
    ...noSchemaCompilers,
    ...fastifyLimits(config.server),
    bodyLimit: config.limits.bodyBytes,
    genReqId: interactionId,
    // One line per request comes from observeRequests instead of Fastify's two; every line of a
    // request names its interaction id (the request id) once, as interactionId.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'interactionId' }),
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  };
  const serverLimits = nodeServerLimits(config.server, true);
  const publicApp = Fastify({ ...tlsAppOptions, https: { ...tlsOptions(ctx.profile, ctx.credentials, false), ...serverLimits } });
  const mtlsApp = Fastify({ ...tlsAppOptions, https: { ...tlsOptions(ctx.profile, ctx.credentials, true), ...serverLimits } });
  const opsApp = Fastify({
    ...logging,
    ...noSchemaCompilers,
    ...fastifyLimits(config.server),
    http: nodeServerLimits(config.server, false),
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });
  refuseMalformedTargets(opsApp);
  const interactionApp = config.listeners.interaction ? await interactionApiListener(ctx, tlsAppOptions, serverLimits) : undefined;
  const adminApp = config.grantManagement.admin.auth === 'mtls' ? await adminListener(ctx, tlsAppOptions, serverLimits) : undefined;
  // Store connection problems are named in the log (rate-limited), not only counted.
  const logStoreProblem = storeProblemLogger(opsApp.log);
  ctx.store.onProblem?.((problem) => {
    metrics?.storeProblems.inc({ cause: problem.cause });
    logStoreProblem(problem);
  });
  const drains = {
    public: new ListenerDrain(publicApp),
    mtls: new ListenerDrain(mtlsApp),
    ops: new ListenerDrain(opsApp),
    interaction: interactionApp && new ListenerDrain(interactionApp),
    admin: adminApp && new ListenerDrain(adminApp),
  };
  for (const [listener, app] of [['public', publicApp], ['mtls', mtlsApp], ['ops', opsApp], ['interaction', interactionApp], ['admin', adminApp]] as const)
    if (app) applyConnectionLimits(app.server, config.server, listener, metrics);

  for (const { message, ...fields } of [ctx.credentials.keyFileWarning, ctx.keys.keyFileWarning, ctx.encryptionKeys?.keyFileWarning].filter((w) => w !== undefined))
    publicApp.log.warn({ event: 'key_file_readable', ...fields }, message);
  const recordSecurityEvent = securityEventRecorder(metrics);
  // Every page a browser may get (login, consent, errors, refusals) wears the deployment's branding.
  for (const app of [publicApp, mtlsApp]) app.decorate('pageUi', ctx.pages.ui);
  tracing?.reportProblemsTo((problem) => opsApp.log.warn({ event: 'tracing_problem' }, `tracing: ${problem}`));
  for (const [listener, app] of [['public', publicApp], ['mtls', mtlsApp]] as const) {
    // First, so that every hook and route after it runs inside the request's span.
    if (tracing) await app.register(tracing.fastifyPlugin);
    installOAuthErrorHandling(app, recordSecurityEvent);
    installSecurityHeaders(app);
    echoInteractionId(app);
    observeRequests(app, listener, metrics, ctx.hooks.observeRequest?.bind(ctx.hooks), { trustedProxies: ctx.trustedProxies, peerCertificate: ctx.peerCertificate });
    refuseMalformedTargets(app);
    if (metrics) observeTls(app.server as unknown as TlsServer, listener, metrics);
    await loadShedding(app, config.loadShedding, () => metrics?.shedRequests.inc({ listener }));
    perIpRateLimit(app, { listener, limit: config.rateLimit[listener], maxTrackedIps: config.rateLimit.maxTrackedIps, trustedProxies: ctx.trustedProxies, exempt: ctx.rateLimitExempt, metrics });
    app.removeAllContentTypeParsers();
    useStrictForms(app, config.limits.bodyBytes);
  }
  await publicApp.register(fastifyCookie);
  discoveryRoutes(publicApp, ctx);
  jwksRoute(publicApp, ctx);
  // The pages a browser sees answer failures as pages, not JSON.
  await publicApp.register(async (pages) => {
    installPageErrorHandling(pages);
    authorizeRoute(pages, ctx);
    interactionRoutes(pages, ctx);
    ctx.bankLogin?.pageRoutes(pages);
  });
  // The back channel is served on both TLS listeners: with a certificate on the mTLS one, and on the
  // public one for clients that need none (DPoP-bound tokens); a client that needs a certificate is
  // refused there as it would be without one on the mTLS listener.
  publicApp.decorate('externalBase', config.issuer);
  mtlsApp.decorate('externalBase', ctx.urls.mtlsBase);
  for (const app of ctx.profile.publicBackChannel === false ? [mtlsApp] : [mtlsApp, publicApp]) {
    parRoute(app, ctx);
    tokenRoute(app, ctx);
    userinfoRoute(app, ctx);
    introspectRoute(app, ctx);
    revokeRoute(app, ctx);
    if (config.grantManagement.admin.auth === 'token') adminRoutesWithToken(app, ctx);
    clientGrantRoutes(app, ctx);
    await gatewayRoutes(app, ctx);
  }
  // Registration binds the client to the certificate it registers with: the mTLS listener only.
  if (config.registration.enabled) await registrationRoutes(mtlsApp, ctx, ctx.registrations);
  await ctx.hooks.routes?.({ public: publicApp, mtls: mtlsApp });
  let closing = false;
  healthRoutes(opsApp, ctx, { shuttingDown: () => closing, shedding: () => publicApp.isUnderPressure() || mtlsApp.isUnderPressure() });
  if (metrics) metricsRoute(opsApp, metrics);

  const tlsTargets: TlsReloadTarget[] = [
    { listener: 'public', server: publicApp.server as unknown as TlsServer, secureContext: (c) => tlsOptions(ctx.profile, c, false) },
    { listener: 'mtls', server: mtlsApp.server as unknown as TlsServer, secureContext: (c) => tlsOptions(ctx.profile, c, true) },
  ];
  if (interactionApp)
    tlsTargets.push({ listener: 'interaction', server: interactionApp.server as unknown as TlsServer, secureContext: (c) => interactionSecureContext(ctx, c) });
  const credentialReload = new CredentialReload(ctx, tlsTargets, publicApp.log);
  if (config.reload.watch) credentialReload.watch(config.reload.debounceMs);

  const apps = [publicApp, mtlsApp, opsApp, ...(interactionApp ? [interactionApp] : []), ...(adminApp ? [adminApp] : [])];
  const listeners = [
    config.listeners.public,
    config.listeners.mtls,
    config.listeners.ops,
    ...(config.listeners.interaction ? [config.listeners.interaction] : []),
    ...(adminApp && config.listeners.admin ? [config.listeners.admin] : []),
  ];
  const listenerNames = ['public', 'mtls', 'ops', ...(interactionApp ? ['interaction'] : []), ...(adminApp && config.listeners.admin ? ['admin'] : [])];
  return {
    context: ctx,
    public: publicApp,
    mtls: mtlsApp,
    ops: opsApp,
    ...(interactionApp ? { interaction: interactionApp } : {}),
    ...(adminApp ? { admin: adminApp } : {}),
    reloadCredentials: (trigger = 'request') => credentialReload.reload(trigger),
    async listen() {
      const started = await Promise.allSettled(apps.map((app, i) => app.listen({ host: listeners[i].host, port: listeners[i].port })));
      const failed = started.findIndex((s) => s.status === 'rejected');
      if (failed < 0) return;
      await Promise.allSettled(apps.map((app) => app.close()));
      throw listenFailure((started[failed] as PromiseRejectedResult).reason, listenerNames[failed], listeners[failed]);
    },
    async close(graceMs = config.shutdown.graceSeconds * 1000, { readinessDelayMs = 0 } = {}) {
      closing = true;
      credentialReload.close();
      const parts = {
        traffic: [drains.public, drains.mtls, ...(drains.interaction ? [drains.interaction] : []), ...(drains.admin ? [drains.admin] : [])],
        ops: drains.ops,
        closeStore: async () => {
          await ctx.hooks.stop?.();
          await ctx.store.close();
          // The spans of the last requests, before the process ends.
          await stopTracing();
        },
        flushLogs: async (deadline: number) => {
          await Promise.all([flushLogs(destination, deadline), flushLogs(audit?.destination, deadline)]);
        },
        log: publicApp.log,
      };
      return stopGateway(parts, graceMs, readinessDelayMs);
    },
  };
}

function tlsOptions(profile: GatewayContext['profile'], credentials: ServerCredentials, requestClientCertificate: boolean) {
  return {
    ...tlsPolicy(profile),
    cert: credentials.cert,
    key: credentials.key,
    // The handshake never fails for a missing or untrusted client certificate: the endpoint answers
    // with an OAuth error instead, which clients and conformance tools can read.
    ...(requestClientCertificate ? { requestCert: true, rejectUnauthorized: false, ca: credentials.clientCAs } : {}),
  };
}

/** A listener that cannot bind names itself and its config key, so a second `npm start` says what is in the way. */
function listenFailure(err: NodeJS.ErrnoException, name: string, { host, port }: { host: string; port: number }): Error {
  const listener = `the ${name} listener (listeners.${name})`;
  if (err.code === 'EADDRINUSE') return new Error(`port ${port} on ${host} is already in use, so ${listener} cannot start: is another fapi-gateway running? Stop it, or set listeners.${name}.port`);
  if (err.code === 'EACCES') return new Error(`${listener} may not bind port ${port} on ${host}: use a port above 1023 or grant the capability`);
  if (err.code === 'EADDRNOTAVAIL') return new Error(`${listener} cannot bind ${host}, an address this machine does not have`);
  return new Error(`${listener} cannot start on ${host}:${port}: ${err.message}`);
}

/** Every certificate in use, for the expiry metric. */
function certificatesInUse(credentials: ServerCredentials): { what: string; subject: string; serial: string; validTo: string }[] {
  const { server, clientCAs } = credentials.parsed;
  return [
    { what: 'server', subject: oneLine(server.subject), serial: server.serialNumber, validTo: server.validTo },
    ...clientCAs.map((ca) => ({ what: 'client_ca', subject: oneLine(ca.subject), serial: ca.serialNumber, validTo: ca.validTo })),
  ];
}
