import { hashPasswordSync } from '../../src/users/password.js';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { publicJwk, type DevPki } from '../../src/devpki/dev-pki.js';
import { authorizeAt, pkce, type AuthorizeOptions } from './flow.js';
import type { ClientName, Harness, Response } from './harness.js';

/** The redirect URIs: the two clients are in different sectors (hosts). */
export const REDIRECT: Record<ClientName, string> = {
  'client-one': 'https://recipient-one.localhost/callback',
  'client-two': 'https://recipient-two.localhost/callback',
};
export const SCOPE = 'openid profile bank:accounts.basic:read bank:transactions:read';
export const BRAND_ID = 'brand-7d1e';
export const PAIRWISE_SECRET = 'a-pairwise-secret-of-at-least-32-characters';

/** Client two's RSA encryption key (ID tokens are encrypted to it): made once per test process. */
let encryptionKey: Promise<{ privateKey: CryptoKey; publicJwk: JWK }> | undefined;
export function clientTwoEncryptionKey() {
  encryptionKey ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true, modulusLength: 2048 });
    return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: 'client-two-enc', alg: 'RSA-OAEP-256', use: 'enc' } };
  })();
  return encryptionKey;
}

/**
 * Turns a test config into a CDR data holder: profile cdr, both clients private_key_jwt in their own
 * sectors (client two with encrypted ID tokens), a second customer, the pack's settings.
 */
export async function cdrConfig(config: Record<string, any>, pki: DevPki, options: { recipientBaseUri?: string; ecosystem?: Record<string, unknown> } = {}): Promise<void> {
  config.profile = 'cdr';
  config.subjects = { pairwiseSecret: PAIRWISE_SECRET };
  config.ecosystem = {
    brandId: BRAND_ID,
    recipients: { allowPrivateAddresses: ['127.0.0.0/8'], pollIntervalMs: 100, retryDelaySeconds: 1, maxRetryDelaySeconds: 2, maxAttempts: 100, timeoutMs: 3000 },
    ...options.ecosystem,
  };
  config.users.push({ username: 'bob', passwordHash: hashPasswordSync('builder-pw'), sub: 'bob-19a2' });
  const enc = await clientTwoEncryptionKey();
  config.clients = [
    {
      client_id: 'client-one',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [await publicJwk(pki.clients['client-one'].jwk)] },
      redirect_uris: [REDIRECT['client-one']],
      scope: `${SCOPE} cdr:registration`,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      ...(options.recipientBaseUri ? { recipient_base_uri: options.recipientBaseUri } : {}),
    },
    {
      client_id: 'client-two',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [await publicJwk(pki.clients['client-two'].jwk), enc.publicJwk] },
      redirect_uris: [REDIRECT['client-two']],
      scope: SCOPE,
      grant_types: ['authorization_code', 'refresh_token'],
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    },
  ];
  config.routes = [];
}

async function clientKey(h: Harness, name: ClientName) {
  const jwk = JSON.parse(await readFile(h.pki.clients[name].jwk, 'utf8')) as JWK;
  return { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid!, alg: jwk.alg! };
}

/** The private_key_jwt form of `name` (aud: the deployment's issuer unless told). */
export async function authForm(h: Harness, name: ClientName, claims: Record<string, unknown> = {}): Promise<Record<string, string>> {
  return {
    client_id: name,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await h.assertion({ iss: name, sub: name, ...claims }, { clientId: name }),
  };
}

export interface CdrPushed {
  requestUri: string;
  verifier: string;
  client: ClientName;
}

/** Pushes a signed request object for `name` with the given `claims` parameter (object) and overrides. */
export async function pushCdr(
  h: Harness,
  name: ClientName,
  claims: Record<string, unknown> | undefined,
  overrides: Record<string, unknown> = {},
  // A replica's harness talks to its own listener, while the deployment's issuer is shared.
  audience = (h as Harness & { sharedIssuer?: string }).sharedIssuer ?? h.issuer,
): Promise<{ res: Response; pushed: CdrPushed }> {
  const { verifier, challenge } = pkce();
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: name,
    aud: audience,
    client_id: name,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: randomUUID(),
    response_type: 'code',
    redirect_uri: REDIRECT[name],
    scope: SCOPE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: `state-${randomUUID()}`,
    nonce: `nonce-${randomUUID()}`,
    ...(claims ? { claims } : {}),
    ...overrides,
  };
  const signer = await clientKey(h, name);
  const request = await new SignJWT(payload).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'oauth-authz-req+jwt' }).sign(signer.key);
  const res = await h.post('/par', { request, ...(await authForm(h, name)) }, { client: name });
  return { res, pushed: { requestUri: res.json?.request_uri, verifier, client: name } };
}

export async function redeemCdr(h: Harness, pushed: CdrPushed, code: string): Promise<Response> {
  const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT[pushed.client], code_verifier: pushed.verifier, ...(await authForm(h, pushed.client)) };
  return h.post('/token', form, { client: pushed.client });
}

/** PAR (signed) → login → consent → tokens. */
export async function cdrFlow(h: Harness, name: ClientName, claims: Record<string, unknown> | undefined, login: AuthorizeOptions = {}) {
  const { res, pushed } = await pushCdr(h, name, claims);
  if (res.status !== 201) throw new Error(`PAR failed: ${res.status} ${res.text}`);
  const redirect = await authorizeAt(h, `/authorize?${new URLSearchParams({ client_id: name, request_uri: pushed.requestUri })}`, login);
  const code = redirect.searchParams.get('code');
  if (!code) return { redirect, tokens: undefined as Record<string, any> | undefined, tokenResponse: undefined as Response | undefined };
  const tokenResponse = await redeemCdr(h, pushed, code);
  if (tokenResponse.status !== 200) throw new Error(`token failed: ${tokenResponse.status} ${tokenResponse.text}`);
  return { redirect, tokens: tokenResponse.json as Record<string, any>, tokenResponse };
}

/** A form POST to the mTLS listener as `name` (private_key_jwt), over its certificate unless told. */
export async function asClient(h: Harness, name: ClientName, path: string, form: Record<string, string>, options: { certificate?: boolean; aud?: string } = {}): Promise<Response> {
  const auth = await authForm(h, name, options.aud ? { aud: options.aud } : {});
  return h.post(path, { ...form, ...auth }, options.certificate === false ? { client: null } : { client: name });
}

export const DAY = 86_400;
