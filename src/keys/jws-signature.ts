import { constants, verify, type KeyObject } from 'node:crypto';

/**
 * The signature check of a compact JWS with a key already imported and vetted by jose, done with
 * node:crypto's one-shot `verify`. Why not jose's `compactVerify`: in Node 20 its WebCrypto path
 * costs about three times the verification itself per call (an async crypto job per signature,
 * measured in bench:gateway and bench:par), and every resource call verifies a new DPoP proof,
 * every PAR and token request a new client assertion (jwt-verify.ts). Only the three FAPI 2.0
 * algorithms (RFC 7518 §3.4, §3.5; RFC 8037 §3.1), each with its fixed parameters.
 */
const PARAMETERS: Record<string, (key: KeyObject) => { digest: string | null; key: Parameters<typeof verify>[2] }> = {
  ES256: (key) => ({ digest: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } }),
  PS256: (key) => ({ digest: 'sha256', key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } }),
  EdDSA: (key) => ({ digest: null, key }),
};

/** True when `jws` (compact, three parts) is signed by `key` with `alg`; false for anything else. */
export function verifyCompactSignature(jws: string, alg: string, key: KeyObject): boolean {
  const parameters = PARAMETERS[alg];
  if (!parameters) return false;
  const dot = jws.lastIndexOf('.');
  const signature = Buffer.from(jws.slice(dot + 1), 'base64url');
  const { digest, key: input } = parameters(key);
  try {
    return verify(digest, Buffer.from(jws.slice(0, dot), 'ascii'), input, signature);
  } catch {
    return false;
  }
}
