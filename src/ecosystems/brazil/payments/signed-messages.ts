import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ClientKeysUnavailableError } from '../../../clients/remote-keys.js';
import type { SigningKeys } from '../../../keys/signing-keys.js';
import { OfbError } from './ofb-error.js';

/** Open Finance Brasil signs messages with PS256 only. */
const ALGORITHMS = ['PS256'];
/** iat within this of now, either way. */
const IAT_TOLERANCE_SECONDS = 60;

/**
 * Verifies the signature of a signed request body (`application/jwt`) with the client's keys. A body
 * that is no JWS, signed with another algorithm or a key the client does not publish, or whose
 * signature fails: 400 BAD_SIGNATURE. Claims are checked apart (`checkClaims`), as their failures
 * answer differently.
 */
export async function verifySignature(jwt: string, keys: JWTVerifyGetKey): Promise<JWTPayload> {
  try {
    // exp and nbf are not OFB's claims: a JWT carrying them is judged by iat alone.
    const { payload } = await jwtVerify(jwt, keys, { algorithms: ALGORITHMS, clockTolerance: Number.MAX_SAFE_INTEGER });
    return payload;
  } catch (err) {
    if (err instanceof ClientKeysUnavailableError)
      throw new OfbError(503, 'FALHA_INFRAESTRUTURA', "the client's keys could not be fetched; retry later", { 'retry-after': '30' });
    const why = err instanceof joseErrors.JOSEAlgNotAllowed ? 'must be signed PS256' : err instanceof joseErrors.JWKSNoMatchingKey ? 'is signed with a key the client does not publish' : 'signature is invalid';
    throw new OfbError(400, 'BAD_SIGNATURE', `the request body ${why}`);
  }
}

/** aud the endpoint's URL, iss the TPP's organisation id, iat within ±60 s, a jti: else 403 INVALID_CLIENT. */
export function checkClaims(payload: JWTPayload, expected: { audience: string; issuer: string }): string {
  const refuse = (why: string) => new OfbError(403, 'INVALID_CLIENT', `the signed request's ${why}`);
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!audiences.includes(expected.audience)) throw refuse('aud must be the endpoint URL');
  if (payload.iss !== expected.issuer) throw refuse("iss must be the organisation id of the client's certificate");
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > IAT_TOLERANCE_SECONDS) throw refuse('iat must be within 60 seconds of now');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw refuse('jti is missing or invalid');
  return payload.jti;
}

/** A response body signed PS256 by the bank: `iss` its organisation id, `aud` the TPP's. */
export async function signResponse(keys: SigningKeys, body: Record<string, unknown>, claims: { issuer: string; audience: string }): Promise<string> {
  const key = keys.signingKey(ALGORITHMS);
  if (!key) throw new OfbError(503, 'FALHA_INFRAESTRUTURA', 'no PS256 signing key');
  return key.signJwt({ ...body, iss: claims.issuer, aud: claims.audience, iat: Math.floor(Date.now() / 1000), jti: randomUUID() }, { typ: 'JWT' });
}
