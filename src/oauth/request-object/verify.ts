import { decodeProtectedHeader, errors as joseErrors, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Client } from '../../clients/client.js';
import { ClientKeysUnavailableError } from '../../clients/remote-keys.js';
import type { Profile } from '../../config/schema.js';
import { verifyJwt } from '../../keys/jwt-verify.js';
import { RequestObjectError } from './errors.js';

/** RFC 9101 §4 media type (compared case-insensitively, with or without `application/`); plain `JWT` too. */
const ACCEPTED_TYP = new Set(['oauth-authz-req+jwt', 'jwt']);
/** FAPI 2.0 Message Signing §5.3.2: `exp - nbf` at most 60 minutes, `nbf` at most 60 minutes old. */
const MAX_LIFETIME_SECONDS = 3600;
const MAX_JTI_LENGTH = 512;

export interface VerifiedRequestObject {
  payload: JWTPayload & Record<string, unknown>;
  /** Seconds the object could still be accepted: how long its `jti` must be remembered. */
  acceptableForSeconds: number;
}

/**
 * Verifies a signed request object (RFC 9101, FAPI 2.0 Message Signing §5.3.2) of `client`: its
 * signature with the client's registered key (by `kid`, or its only key of the right type), an
 * algorithm of the profile, and the claims that bind it to this client, this server and a short time.
 */
export async function verifyRequestObject(jws: string, client: Client, issuer: string, profile: Profile): Promise<VerifiedRequestObject> {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new RequestObjectError('malformed', 'request is not a signed JWT');
  }
  if (jws.split('.').length !== 3) throw new RequestObjectError('malformed', 'request is not a signed JWT');
  if (header.alg === undefined || header.alg.toLowerCase() === 'none') throw new RequestObjectError('unsigned', 'request objects must be signed (alg none is refused)');
  const algorithms = client.requestObject.algorithms;
  if (!algorithms.includes(header.alg)) throw new RequestObjectError('alg_not_allowed', `request object alg must be one of ${algorithms.join(', ')}`);
  if (header.typ !== undefined && !ACCEPTED_TYP.has(String(header.typ).toLowerCase().replace(/^application\//, '')))
    throw new RequestObjectError('bad_typ', 'request object typ must be oauth-authz-req+jwt');
  if (!client.jwtKeys) throw new RequestObjectError('no_key', 'the client has no registered keys (jwks or jwks_uri) for request objects');

  const tolerance = profile.clientAssertion.futureToleranceSeconds;
  let payload: JWTPayload;
  try {
    ({ payload } = await verifyJwt(jws, client.jwtKeys, {
      algorithms,
      issuer: client.id,
      audience: issuer,
      clockTolerance: tolerance,
      requiredClaims: ['iss', 'aud', 'exp', 'nbf'],
    }));
  } catch (err) {
    throw verificationFailure(err);
  }
  const now = Math.floor(Date.now() / 1000);
  const exp = payload.exp as number;
  const nbf = payload.nbf as number;
  if (exp - nbf > MAX_LIFETIME_SECONDS) throw new RequestObjectError('too_long_lived', 'request object exp must be at most 60 minutes after nbf');
  if (now - nbf > MAX_LIFETIME_SECONDS) throw new RequestObjectError('too_old', 'request object nbf is more than 60 minutes in the past');
  if (payload.iat !== undefined && (typeof payload.iat !== 'number' || payload.iat > now + tolerance))
    throw new RequestObjectError('issued_in_future', 'request object iat is in the future');
  const claims = payload as JWTPayload & Record<string, unknown>;
  if (claims.client_id !== undefined && claims.client_id !== client.id) throw new RequestObjectError('client_id_mismatch', 'request object client_id must be the client\'s');
  if ('request' in claims || 'request_uri' in claims) throw new RequestObjectError('nested_request', 'a request object must not contain request or request_uri');
  if (payload.jti !== undefined && (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > MAX_JTI_LENGTH))
    throw new RequestObjectError('bad_jti', 'request object jti is invalid');
  return { payload: claims, acceptableForSeconds: Math.max(1, exp + tolerance - now) };
}

function verificationFailure(err: unknown): RequestObjectError {
  if (err instanceof ClientKeysUnavailableError) return new RequestObjectError('jwks_unavailable', "the client's keys could not be fetched from its jwks_uri", err.message);
  if (err instanceof joseErrors.JWTExpired) return new RequestObjectError('expired', 'request object has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return new RequestObjectError(`missing_${err.claim}`, `request object lacks the ${err.claim} claim`);
    if (err.claim === 'aud') return new RequestObjectError('bad_audience', 'request object aud must be (or contain) the issuer identifier');
    if (err.claim === 'iss') return new RequestObjectError('bad_issuer', "request object iss must be the client's client_id");
    if (err.claim === 'nbf') return new RequestObjectError('not_yet_valid', 'request object nbf is in the future');
    return new RequestObjectError('bad_claims', `request object ${err.claim} is not acceptable`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new RequestObjectError('alg_not_allowed', 'request object alg is not allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new RequestObjectError('no_matching_key', "no registered key of the client matches the request object's signature");
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return new RequestObjectError('ambiguous_key', 'several registered keys match: name one with kid');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new RequestObjectError('bad_signature', 'request object signature is invalid');
  if (err instanceof joseErrors.JWTInvalid) return new RequestObjectError('malformed', 'request object payload is not a JSON object of claims');
  return new RequestObjectError('bad_signature', 'request object signature cannot be verified');
}
