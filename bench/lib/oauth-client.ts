import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT, type JWK } from 'jose';
import { DEMO_REDIRECT_URI } from '../../src/config/embedded.js';

export const CLIENT_ID = 'client-one';
export const REDIRECT_URI = DEMO_REDIRECT_URI;
export const SCOPE = 'openid accounts';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Signs client-one's private_key_jwt assertions ahead of time, so the timed window measures the
 * server and not the client's signing. Each has its own jti; all are valid for `lifetimeSeconds`
 * (the gateway refuses an assertion whose iat is older than 300 s, so a window must end before).
 */
export async function presignAssertions(jwk: JWK, audience: string, count: number, lifetimeSeconds = 280, clientIds: (i: number) => string = () => CLIENT_ID): Promise<string[]> {
  const key = await importJWK(jwk, jwk.alg);
  const now = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = clientIds(i);
    const payload = { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + lifetimeSeconds, jti: randomUUID() };
    out.push(await new SignJWT(payload).setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid! }).sign(key));
  }
  return out;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** What a flow's pushed request asks beyond the baseline's (an ecosystem's scopes, its `claims` parameter). */
export interface RequestShape {
  scope?: string;
  /** The `claims` parameter (OpenID Connect §5.5), e.g. a CDR sharing_duration. */
  claims?: Record<string, unknown>;
  /** The signed request's response_mode (default jwt: JARM, as FAPI 2.0 Message Signing); 'query' for none. */
  responseMode?: 'jwt' | 'query';
}

/** The body of a pushed authorization request for client-one, authenticated by `assertion`. */
export function parBody(assertion: string, codeChallenge: string, clientId = CLIENT_ID, shape: RequestShape = {}): string {
  return new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: shape.scope ?? SCOPE,
    ...(shape.claims ? { claims: JSON.stringify(shape.claims) } : {}),
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state: 'state-' + randomUUID(),
    nonce: 'nonce-' + randomUUID(),
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
  }).toString();
}

/**
 * The same request as a signed request object (RFC 9101), signed ahead of time, asking for a JARM
 * response (response_mode=jwt): the whole of FAPI 2.0 Message Signing. The body carries only
 * client_id, request and the client assertion.
 */
export async function signedParBody(assertion: string, codeChallenge: string, key: CryptoKey | Uint8Array, jwk: JWK, audience: string, shape: RequestShape = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const parameters: Record<string, unknown> = Object.fromEntries(new URLSearchParams(parBody(assertion, codeChallenge, CLIENT_ID, { ...shape, claims: undefined })));
  delete parameters.client_assertion;
  delete parameters.client_assertion_type;
  if ((shape.responseMode ?? 'jwt') === 'jwt') parameters.response_mode = 'jwt';
  // Inside a request object `claims` is a JSON object, not a string.
  if (shape.claims) parameters.claims = shape.claims;
  const request = await new SignJWT({ ...parameters, iss: CLIENT_ID, aud: audience, nbf: now, iat: now, exp: now + 280, jti: randomUUID() })
    .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid!, typ: 'oauth-authz-req+jwt' })
    .sign(key);
  return new URLSearchParams({ client_id: CLIENT_ID, request, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }).toString();
}

/** The body of an authorization-code token request for client-one. */
export function tokenBody(assertion: string, code: string, verifier: string): string {
  return new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: CLIENT_ID,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
  }).toString();
}

/** Everything one flow sends that can be prepared before the timed window. */
export interface FlowMaterial {
  parBody: string;
  tokenAssertion: string;
  verifier: string;
}

/** `signed`: the pushed requests are signed request objects (the gateway on a profile that takes them); `shape`: what they ask. */
export async function flowMaterial(jwk: JWK, audience: string, count: number, signed = false, shape: RequestShape = {}): Promise<FlowMaterial[]> {
  const assertions = await presignAssertions(jwk, audience, count * 2);
  const key = signed ? await importJWK(jwk, jwk.alg) : undefined;
  const out: FlowMaterial[] = [];
  for (let i = 0; i < count; i++) {
    const { verifier, challenge } = pkce();
    const body = key ? await signedParBody(assertions[2 * i], challenge, key, jwk, audience, shape) : parBody(assertions[2 * i], challenge, CLIENT_ID, shape);
    out.push({ parBody: body, tokenAssertion: assertions[2 * i + 1], verifier });
  }
  return out;
}

/** A one-line description of an access token, to show both servers issue the same kind. */
export function describeAccessToken(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3) return `opaque (${token.length} chars)`;
  const header = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  const cnf = claims.cnf as Record<string, unknown> | undefined;
  return `JWT alg=${header.alg} typ=${header.typ} aud=${JSON.stringify(claims.aud)} scope="${claims.scope}" cnf=${cnf ? Object.keys(cnf).join(',') : 'none'} (${token.length} chars)`;
}

/** The token endpoint's answer, checked: both servers must issue an access, an ID and a refresh token. */
export function checkTokenResponse(text: string): { access_token: string } {
  const body = JSON.parse(text) as { access_token?: unknown; id_token?: unknown; refresh_token?: unknown };
  for (const token of ['access_token', 'id_token', 'refresh_token'] as const)
    if (typeof body[token] !== 'string' || body[token] === '') throw new Error(`token: no ${token} in the response`);
  return body as { access_token: string };
}

/** The `code` of an authorization response redirect, or an error naming what came back instead. */
export function codeFrom(location: string | undefined): string {
  if (!location || !location.startsWith(REDIRECT_URI)) throw new Error(`authorization: not redirected to the client (${location})`);
  const url = new URL(location);
  // JARM (response_mode=jwt): the code is inside the signed response; the client's check of the
  // signature is not the server's cost, so it is only decoded here.
  const response = url.searchParams.get('response');
  const code = response ? (decodeJwt(response).code as string | undefined) : url.searchParams.get('code');
  if (!code) throw new Error(`authorization: no code in ${location}`);
  return code;
}
