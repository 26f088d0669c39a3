import { SignJWT } from 'jose';
import type { Signer } from './signer.js';

/** A key read from the keys file and imported once: jose signs with it directly. */
export function fileKeySigner(kid: string, alg: string, privateKey: CryptoKey): Signer {
  return {
    kid,
    alg,
    signJwt: (claims, header) => new SignJWT(claims).setProtectedHeader({ ...header, alg, kid }).sign(privateKey),
  };
}
