import type { KeyObject } from 'node:crypto';

const EC_BITS: Record<string, number> = { 'prime256v1': 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp224r1: 224, secp256k1: 256 };

/** FAPI 2.0 §5.4.1: RSA keys of at least 2048 bits, elliptic curve keys of at least 224 bits. Returns a problem, or undefined. */
export function keyWeakness(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return (details.modulusLength ?? 0) >= 2048 ? undefined : `RSA key of ${details.modulusLength} bits; at least 2048 required`;
    case 'ec': {
      const bits = EC_BITS[details.namedCurve ?? ''] ?? 0;
      return bits >= 224 ? undefined : `elliptic curve ${details.namedCurve} is not allowed; 224 bits or more required`;
    }
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `key type ${key.asymmetricKeyType} is not allowed`;
  }
}
