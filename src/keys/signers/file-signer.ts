import { constants, KeyObject, sign } from 'node:crypto';
import { externalSigner, type Signer } from './signer.js';

/**
 * A key read from the keys file and imported once, signing with node:crypto rather than through
 * jose's WebCrypto path, which runs every signature as a job on the thread pool whose hand-off
 * costs as much again as an ES256 signature (measured in bench:flow: two per token response).
 * ES256 and EdDSA sign on the event loop, in tens of microseconds; an RSA signature (PS256, about
 * a millisecond) goes to the thread pool, so that it does not hold up other requests.
 */
export function fileKeySigner(kid: string, alg: string, privateKey: CryptoKey): Signer {
  const key = KeyObject.from(privateKey);
  const signBytes = SIGN[alg];
  if (!signBytes) throw new Error(`no signer for ${alg}`);
  return externalSigner({ kid, alg, signBytes: async (input) => signBytes(key, input) });
}

/** RFC 7518 §3.4 (ECDSA signatures as r || s), §3.5 (RSASSA-PSS, salt as long as the hash); RFC 8037 §3.1. */
const SIGN: Record<string, (key: KeyObject, input: Uint8Array) => Uint8Array | Promise<Uint8Array>> = {
  ES256: (key, input) => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }),
  EdDSA: (key, input) => sign(null, input, key),
  PS256: (key, input) =>
    new Promise((resolve, reject) =>
      sign('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, (err, signature) => (err ? reject(err) : resolve(signature))),
    ),
};
