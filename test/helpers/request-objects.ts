import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { importJWK, SignJWT, type JWK } from 'jose';
import { DEMO_REDIRECT_URI } from '../../src/config/embedded.js';
import { pkce } from './flow.js';
import type { ClientName, Harness } from './harness.js';

/** Valid authorization parameters for `response_type=code` as request object claims of `name`. */
export function requestObjectClaims(h: Harness, name: ClientName, challenge = pkce().challenge): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: name,
    aud: h.issuer,
    client_id: name,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: randomUUID(),
    response_type: 'code',
    redirect_uri: DEMO_REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: `state-${randomUUID()}`,
    nonce: `nonce-${randomUUID()}`,
  };
}

/**
 * A request object (RFC 9101) for `name`, signed with its own key: requestObjectClaims with
 * `overrides` on top (a claim set to undefined is left out).
 */
export async function signedRequestObject(h: Harness, name: ClientName, overrides: Record<string, unknown> = {}): Promise<string> {
  const claims: Record<string, unknown> = { ...requestObjectClaims(h, name), ...overrides };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  const jwk = JSON.parse(await readFile(h.pki.clients[name].jwk, 'utf8')) as JWK;
  return new SignJWT(claims).setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid!, typ: 'oauth-authz-req+jwt' }).sign((await importJWK(jwk, jwk.alg)) as CryptoKey);
}
