import { KeyObject } from 'node:crypto';
import { errors, jwtVerify, UnsecuredJWT, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose';
import { verifyCompactSignature } from './jws-signature.js';

/**
 * jose's `jwtVerify` for a compact JWT, with the signature checked by node:crypto's one-shot
 * `verify` on the event loop instead of WebCrypto: in Node 20 WebCrypto runs every verification as
 * a job on the thread pool, and that hand-off and its argument conversions cost about as much again
 * as an ES256 verification (measured in bench:par). Client assertions are verified on every PAR and
 * token request.
 *
 * Everything else is jose's: the key comes from `getKey` (jose's key sets: selection by kid and
 * alg, import, caching), and the claims are checked by jose's own claims validation (required
 * claims, iss, aud, exp, nbf, iat with the tolerance). The fast path takes only the usual shape: a
 * base64url JWT with no crit or b64 header, an allowed algorithm among ES256, PS256 and EdDSA, and
 * a public CryptoKey jose would accept for it. Anything else goes to `jwtVerify` itself, so every
 * unusual input gets exactly jose's answer and error.
 */
export async function verifyJwt(jwt: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions & { algorithms: string[] }): Promise<{ payload: JWTPayload; protectedHeader: ProtectedHeaderParameters }> {
  // A typ option is checked against the header, which the claims check below does not see.
  const parts = options.typ === undefined ? fastPathParts(jwt) : undefined;
  const header = parts && fastPathHeader(parts[0], options.algorithms);
  if (!parts || !header) return jwtVerify(jwt, getKey, options);
  const key = await getKey(header, { payload: parts[1], signature: parts[2], protected: parts[0] } as never);
  const keyObject = fastPathKey(key, header.alg);
  if (!keyObject) return jwtVerify(jwt, getKey, options);
  if (!verifyCompactSignature(jwt, header.alg, keyObject)) throw new errors.JWSSignatureVerificationFailed();
  // jose's claims checks, run on the verified payload through its decoder of unsigned JWTs, which
  // applies the same validation as jwtVerify after the signature.
  const { payload } = UnsecuredJWT.decode(`${NONE_HEADER}.${parts[1]}.`, options);
  return { payload, protectedHeader: header };
}

/** `{"alg":"none"}`, the header UnsecuredJWT.decode requires. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

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

type FastHeader = ProtectedHeaderParameters & { alg: FastAlgorithm };

/** The protected header, when it is a JSON object with an allowed fast-path alg and no JWS extension. */
function fastPathHeader(segment: string, algorithms: string[]): FastHeader | undefined {
  let header: unknown;
  try {
    header = JSON.parse(UTF8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
  const { alg, crit, b64 } = header as Record<string, unknown>;
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
