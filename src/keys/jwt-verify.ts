import { KeyObject } from 'node:crypto';
import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult, type ProtectedHeaderParameters } from 'jose';
import { verifyCompactSignature } from './jws-signature.js';

/**
 * jose's `jwtVerify` for a compact JWT, with the usual case done without WebCrypto: in Node 20
 * WebCrypto runs every verification as a job on the thread pool, and that hand-off and its argument
 * conversions cost about as much again as an ES256 verification (measured in bench:par); client
 * assertions are verified on every PAR and token request. The fast path checks the signature with
 * node:crypto's one-shot `verify` and the claims as jose does (`checkClaims`), with jose's errors.
 *
 * The key still comes from `getKey` (jose's key sets: selection by kid and alg, import, caching).
 * The fast path takes only the usual shape: a base64url JWT with no crit or b64 header, an allowed
 * algorithm among ES256, PS256 and EdDSA, a public CryptoKey jose would accept for it, and only the
 * options algorithms, requiredClaims, issuer, audience and a clockTolerance in seconds. Anything
 * else goes to `jwtVerify` itself, so every unusual input gets exactly jose's answer and error
 * (test/jwt-verify.test.ts compares the two).
 */
export async function verifyJwt(jwt: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions & { algorithms: string[] }): Promise<JWTVerifyResult> {
  const parts = fastPathOptions(options) ? fastPathParts(jwt) : undefined;
  const header = parts && fastPathHeader(parts[0], options.algorithms);
  if (!parts || !header) return jwtVerify(jwt, getKey, options);
  const key = await getKey(header, { payload: parts[1], signature: parts[2], protected: parts[0] } as never);
  const keyObject = fastPathKey(key, header.alg);
  if (!keyObject) return jwtVerify(jwt, getKey, options);
  if (!verifyCompactSignature(jwt, header.alg, keyObject)) throw new errors.JWSSignatureVerificationFailed();
  let claims: unknown;
  try {
    claims = parseSegment(parts[1]);
  } catch (cause) {
    throw new errors.JWTInvalid(NOT_AN_OBJECT, { cause });
  }
  return { payload: checkClaims(claims, options), protectedHeader: header, key } as JWTVerifyResult;
}

/** jose's `decodeJwt` (the claims, unverified), reading the usual base64url JWT without jose's decoder. */
export function decodeJwtClaims(jwt: string): JWTPayload {
  const parts = fastPathParts(jwt);
  if (parts) {
    try {
      const claims = parseSegment(parts[1]);
      if (isJsonObject(claims)) return claims;
    } catch {
      // jose says what is wrong
    }
  }
  return decodeJwt(jwt);
}

const NOT_AN_OBJECT = 'JWT Claims Set must be a top-level JSON object';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The options the fast path knows; jwtVerify handles the others (typ, subject, maxTokenAge, currentDate, crit). */
const FAST_OPTIONS = new Set(['algorithms', 'requiredClaims', 'issuer', 'audience', 'clockTolerance']);

function fastPathOptions(options: JWTVerifyOptions): boolean {
  for (const name of Object.keys(options)) if (!FAST_OPTIONS.has(name) && options[name as keyof JWTVerifyOptions] !== undefined) return false;
  const tolerance = options.clockTolerance;
  return tolerance === undefined || (typeof tolerance === 'number' && Number.isFinite(tolerance) && tolerance >= 0);
}

/**
 * The three segments, when each is plain base64url that node's and jose's decoders read alike (no
 * padding, whitespace or other characters, and a length that is not one more than a multiple of 4).
 */
function fastPathParts(jwt: string): [string, string, string] | undefined {
  if (typeof jwt !== 'string') return undefined;
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  for (const part of parts) if (part.length % 4 === 1 || !BASE64URL.test(part)) return undefined;
  return parts as [string, string, string];
}

/** A segment's JSON (strict UTF-8, as jose reads it); throws when it is not JSON. */
const parseSegment = (segment: string): unknown => JSON.parse(UTF8.decode(Buffer.from(segment, 'base64url')));

/** What jose's isObject says of a parsed JSON value. */
const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

type FastHeader = ProtectedHeaderParameters & { alg: FastAlgorithm };

/** The protected header, when it is a JSON object with an allowed fast-path alg and no JWS extension. */
function fastPathHeader(segment: string, algorithms: string[]): FastHeader | undefined {
  let header: unknown;
  try {
    header = parseSegment(segment);
  } catch {
    return undefined;
  }
  if (!isJsonObject(header)) return undefined;
  const { alg, crit, b64 } = header;
  if (crit !== undefined || b64 !== undefined || typeof alg !== 'string' || !(alg in KEY_FITS) || !algorithms.includes(alg)) return undefined;
  return header as FastHeader;
}

type FastAlgorithm = 'ES256' | 'PS256' | 'EdDSA';

/** The CryptoKeys jose accepts for each algorithm (its checkCryptoKey and RSA modulus rule). */
const KEY_FITS: Record<FastAlgorithm, (algorithm: Record<string, unknown>) => boolean> = {
  ES256: (a) => a.name === 'ECDSA' && a.namedCurve === 'P-256',
  PS256: (a) => a.name === 'RSA-PSS' && (a.hash as { name?: string } | undefined)?.name === 'SHA-256' && typeof a.modulusLength === 'number' && a.modulusLength >= 2048,
  EdDSA: (a) => a.name === 'Ed25519',
};

/** node:crypto handles of the CryptoKeys jose's key sets return (they cache them: one handle each). */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function fastPathKey(key: unknown, alg: FastAlgorithm): KeyObject | undefined {
  if (!(key instanceof CryptoKey) || key.type !== 'public' || !key.usages.includes('verify')) return undefined;
  if (!KEY_FITS[alg](key.algorithm as unknown as Record<string, unknown>)) return undefined;
  let keyObject = keyObjects.get(key);
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key)));
  return keyObject;
}

/**
 * jose's claims validation (validateClaimsSet) for the fast path's options, in its order and with
 * its errors: required claims (the last named first), iss, aud, then iat, nbf and exp as numeric
 * dates, nbf and exp against the clock with the tolerance.
 */
function checkClaims(claims: unknown, options: JWTVerifyOptions): JWTPayload {
  if (!isJsonObject(claims)) throw new errors.JWTInvalid(NOT_AN_OBJECT);
  const { requiredClaims = [], issuer, audience } = options;
  const presence = [...requiredClaims];
  if (audience !== undefined) presence.push('aud');
  if (issuer !== undefined) presence.push('iss');
  for (const claim of new Set(presence.reverse()))
    if (!Object.hasOwn(claims, claim)) throw new errors.JWTClaimValidationFailed(`missing required "${claim}" claim`, claims, claim, 'missing');
  if (issuer !== undefined && !(Array.isArray(issuer) ? issuer : [issuer]).includes(claims.iss as string)) throw unexpected(claims, 'iss');
  if (audience !== undefined && !audienceMatches(claims.aud, typeof audience === 'string' ? [audience] : audience)) throw unexpected(claims, 'aud');
  const tolerance = (options.clockTolerance as number | undefined) ?? 0;
  const now = Math.floor(Date.now() / 1000);
  numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) throw new errors.JWTClaimValidationFailed('"nbf" claim timestamp check failed', claims, 'nbf', 'check_failed');
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= now - tolerance) throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, 'exp', 'check_failed');
  return claims;
}

function numericDate(claims: Record<string, unknown>, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new errors.JWTClaimValidationFailed(`"${claim}" claim must be a number`, claims, claim, 'invalid');
  return value;
}

const unexpected = (claims: Record<string, unknown>, claim: string) => new errors.JWTClaimValidationFailed(`unexpected "${claim}" claim value`, claims, claim, 'check_failed');

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && accepted.some((a) => aud.includes(a));
}
