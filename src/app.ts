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
import { dpopRules } from './dpop/rules.js';
import { DpopVerifier } from './dpop/verifier.js';
import { grantLifetimes } from './grants/grant-lifetime.js';
import { answerClientError, installOAuthErrorHandling } from './http/error-handler.js';
import { useStrictForms } from './http/form-body.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { answerFrameworkError, refuseMalformedTargets } from './http/request-target.js';
import { SigningKeys } from './keys/signing-keys.js';
import { EncryptionKeys } from './keys/encryption-keys.js';
import { requestObjectMode } from './oauth/request-object/policy.js';
import { installPageErrorHandling } from './interaction/page-errors.js';
import { interactionRoutes } from './interaction/routes.js';
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
import { Metrics } from './observability/metrics.js';
import { metricsRoute } from './observability/metrics-route.js';
import { observeRequests, observeTls } from './observability/request-observer.js';
import { securityEventRecorder } from './observability/security-events.js';
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

export interface Gateway {
  context: GatewayContext;
  public: FastifyInstance;
  mtls: FastifyInstance;
  ops: FastifyInstance;
  /** The interaction API's listener (`interaction.mode: external`). */
  interaction?: FastifyInstance;
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
}

/** Builds the shared context from a loaded config; fails with a ConfigError on anything wrong. */
export async function createContext(loaded: LoadedConfig, store?: Store): Promise<GatewayContext> {
  const { config, profile } = loaded;
  const hooks = ecosystemHooks(profile.ecosystem, config.ecosystem);
  checkInteractionSettings(config);
  checkRoutes(config.routes);
  decideConventions(config.routes, hooks);
  checkServerLimits(config.server);
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
  const theStore = metrics ? instrumentStore(backendStore, config.store.type, metrics) : backendStore;
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
    grants: new Grants(theStore, grantLifetimes(profile, hooks, clients)),
    hooks,
    metrics,
    verifiedTokens: new VerifiedTokenCache(),
    dpop: new DpopVerifier(dpop, config.dpop?.nonceKey, theStore, trustedProxies),
    peerCertificate: peerCertificateSource(config.tls, () => credentials.clientCAs),
    rateLimitExempt: addressBlocks(config.rateLimit.exempt, 'rateLimit.exempt'),
    trustedProxies,
    subjects,
  };
  // Tokens verified with keys a reload took away must be verified again (and refused).
  keys.onChange(() => ctx.verifiedTokens.clear());
  if (metrics) metrics.certificatesInUse = () => certificatesInUse(ctx.credentials);
  ctx.bankLogin = await createBankLogin(ctx);
  await hooks.start?.(ctx);
  return ctx;
}

export async function createGateway(loaded: LoadedConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const ctx = await createContext(loaded, options.store);
  const { config } = ctx;
  const { metrics } = ctx;
  // Our own buffered stdout writer, unless a test brings its logger or a person wants pretty lines.
  const destination =
    options.logger === undefined && !config.log.pretty
      ? logDestination({ maxBufferBytes: config.log.maxBufferBytes, onDrop: () => metrics?.logLinesDropped.inc() })
      : undefined;
  const logging = loggerOptions(config.log.level, config.log.pretty, options.logger, destination);

  const tlsAppOptions = {
    ...logging,
    ...fastifyLimits(config.server),
    bodyLimit: config.limits.bodyBytes,
    genReqId: interactionId,
    // One line per request comes from observeRequests instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  };
  const serverLimits = nodeServerLimits(config.server, true);
  const publicApp = Fastify({ ...tlsAppOptions, https: { ...tlsOptions(ctx.profile, ctx.credentials, false), ...serverLimits } });
  const mtlsApp = Fastify({ ...tlsAppOptions, https: { ...tlsOptions(ctx.profile, ctx.credentials, true), ...serverLimits } });
  const opsApp = Fastify({
    ...logging,
    ...fastifyLimits(config.server),
    http: nodeServerLimits(config.server, false),
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });
  refuseMalformedTargets(opsApp);
  const interactionApp = config.listeners.interaction ? await interactionApiListener(ctx, tlsAppOptions, serverLimits) : undefined;
  // Store connection problems are named in the log (rate-limited), not only counted.
  const logStoreProblem = storeProblemLogger(opsApp.log);
  ctx.store.onProblem?.((problem) => {
    metrics?.storeProblems.inc({ cause: problem.cause });
    logStoreProblem(problem);
  });
  const drains = { public: new ListenerDrain(publicApp), mtls: new ListenerDrain(mtlsApp), ops: new ListenerDrain(opsApp), interaction: interactionApp && new ListenerDrain(interactionApp) };
  for (const [listener, app] of [['public', publicApp], ['mtls', mtlsApp], ['ops', opsApp], ['interaction', interactionApp]] as const)
    if (app) applyConnectionLimits(app.server, config.server, listener, metrics);

  for (const { message, ...fields } of [ctx.credentials.keyFileWarning, ctx.keys.keyFileWarning, ctx.encryptionKeys?.keyFileWarning].filter((w) => w !== undefined))
    publicApp.log.warn({ event: 'key_file_readable', ...fields }, message);
  const recordSecurityEvent = securityEventRecorder(metrics);
  for (const [listener, app] of [['public', publicApp], ['mtls', mtlsApp]] as const) {
    installOAuthErrorHandling(app, recordSecurityEvent);
    installSecurityHeaders(app);
    echoInteractionId(app);
    observeRequests(app, listener, metrics, ctx.hooks.observeRequest?.bind(ctx.hooks));
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

  const apps = [publicApp, mtlsApp, opsApp, ...(interactionApp ? [interactionApp] : [])];
  const listeners = [config.listeners.public, config.listeners.mtls, config.listeners.ops, ...(config.listeners.interaction ? [config.listeners.interaction] : [])];
  return {
    context: ctx,
    public: publicApp,
    mtls: mtlsApp,
    ops: opsApp,
    ...(interactionApp ? { interaction: interactionApp } : {}),
    reloadCredentials: (trigger = 'request') => credentialReload.reload(trigger),
    async listen() {
      await Promise.all(apps.map((app, i) => app.listen({ host: listeners[i].host, port: listeners[i].port })));
    },
    async close(graceMs = config.shutdown.graceSeconds * 1000, { readinessDelayMs = 0 } = {}) {
      closing = true;
      credentialReload.close();
      const parts = {
        traffic: [drains.public, drains.mtls, ...(drains.interaction ? [drains.interaction] : [])],
        ops: drains.ops,
        closeStore: async () => {
          await ctx.hooks.stop?.();
          await ctx.store.close();
        },
        flushLogs: (deadline: number) => flushLogs(destination, deadline),
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

/** Every certificate in use, for the expiry metric. */
function certificatesInUse(credentials: ServerCredentials): { what: string; subject: string; serial: string; validTo: string }[] {
  const { server, clientCAs } = credentials.parsed;
  return [
    { what: 'server', subject: oneLine(server.subject), serial: server.serialNumber, validTo: server.validTo },
    ...clientCAs.map((ca) => ({ what: 'client_ca', subject: oneLine(ca.subject), serial: ca.serialNumber, validTo: ca.validTo })),
  ];
}
