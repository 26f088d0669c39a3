/**
 * node-oidc-provider v9 set up as close to fapi-gateway's FAPI 2.0 profile as it allows, for
 * bench/flow.ts. Run by the bench in its own process:
 *   node --import tsx bench/oidc-provider-server.ts SETTINGS.json
 * It prints "listening" when ready. Interactions have no pages: the handler logs in the demo user
 * (once, on the first flow) and approves consent for exactly the requested scopes (every flow).
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Provider from 'oidc-provider';
import { FAPI_TLS_POLICY } from '../src/tls/policy.js';

/** What the bench hands over (see bench/lib/oidc-provider.ts). */
export interface OidcProviderSettings {
  port: number;
  issuer: string;
  serverCert: string;
  serverKey: string;
  /** A JWKS file of private signing keys (the gateway's dev signing keys). */
  signingKeys: string;
  alg: 'ES256' | 'PS256';
  client: { client_id: string; redirect_uri: string; jwk: Record<string, unknown> };
  sub: string;
}

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8')) as OidcProviderSettings;
const { alg, issuer } = settings;
const ALGS = ['PS256', 'ES256', 'EdDSA'];
// The resource the JWT access tokens are for (the gateway's tokens are for its mTLS listener).
const RESOURCE = `${issuer}/`;

// The client certificate of a connection, read once per connection as the gateway does.
const certificates = new WeakMap<TLSSocket, X509Certificate | null>();
function connectionCertificate(socket: TLSSocket): X509Certificate | undefined {
  let cert = certificates.get(socket);
  if (cert === undefined) {
    cert = socket.getPeerX509Certificate() ?? null;
    certificates.set(socket, cert);
  }
  return cert ?? undefined;
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: settings.client.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [settings.client.jwk] },
      redirect_uris: [settings.client.redirect_uri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'openid profile email accounts transactions',
      id_token_signed_response_alg: alg,
      tls_client_certificate_bound_access_tokens: true,
    },
  ],
  clientDefaults: { id_token_signed_response_alg: alg, token_endpoint_auth_method: 'private_key_jwt', grant_types: ['authorization_code'], response_types: ['code'] },
  jwks: JSON.parse(readFileSync(settings.signingKeys, 'utf8')),
  clientAuthMethods: ['private_key_jwt'],
  enabledJWA: { clientAuthSigningAlgValues: ALGS, idTokenSigningAlgValues: ALGS, requestObjectSigningAlgValues: ALGS },
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access', 'profile', 'email', 'accounts', 'transactions'],
  pkce: { required: () => true },
  clockTolerance: 10,
  routes: { authorization: '/authorize', pushed_authorization_request: '/par', token: '/token', userinfo: '/userinfo', jwks: '/jwks' },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    fapi: { enabled: true, profile: '2.0' },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      getCertificate: (ctx: { socket: TLSSocket }) => connectionCertificate(ctx.socket),
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      // Token requests without `resource` get a JWT for the granted resource, not an opaque userinfo token.
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'accounts transactions',
        audience: RESOURCE,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
    dPoP: { enabled: false },
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    userinfo: { enabled: true },
  },
  // Consent is asked on every authorization, as the gateway's fapi2 profile does (consent.everyTime):
  // only the grant the current interaction just created counts, never one remembered in the session.
  loadExistingGrant: async (ctx: { oidc: { provider: Provider; result?: { consent?: { grantId?: string } } } }) => {
    const grantId = ctx.oidc.result?.consent?.grantId;
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  // The gateway issues a refresh token whenever the client may use them.
  issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // The gateway's lifetimes (profiles/fapi2.yaml).
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, RefreshToken: 7_776_000, Interaction: 900, Session: 3600, Grant: 7_776_000 },
});
provider.on('server_error', (_ctx: unknown, err: Error) => console.error('server_error', err));

/** No pages: log the demo user in when asked to (the first flow), approve exactly what is requested. */
async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: settings.sub } });
    return;
  }
  const accountId = details.session?.accountId;
  if (prompt.name !== 'consent' || !accountId) throw new Error(`unexpected prompt ${prompt.name}`);
  const grant = new provider.Grant({ accountId, clientId: String(params.client_id) });
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const handle = provider.callback();
const server = createServer(
  { ...FAPI_TLS_POLICY, cert: readFileSync(settings.serverCert), key: readFileSync(settings.serverKey), requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((err: Error) => {
        console.error('interaction failed', err);
        res.statusCode = 500;
        res.end(err.message);
      });
      return;
    }
    handle(req, res);
  },
);
server.keepAliveTimeout = 72_000;
server.listen(settings.port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
