import { createHash } from 'node:crypto';

/** The hash OIDC Core pairs with each JWS algorithm (§3.3.2.11); Ed25519 (EdDSA) with SHA-512. */
const HASH_OF: Record<string, string> = {
  PS256: 'sha256', ES256: 'sha256', RS256: 'sha256',
  PS384: 'sha384', ES384: 'sha384', RS384: 'sha384',
  PS512: 'sha512', ES512: 'sha512', RS512: 'sha512',
  EdDSA: 'sha512',
};

/**
 * An ID token hash claim (`c_hash`, `s_hash`, `at_hash`): the base64url of the left half of the
 * hash of the value's ASCII octets, with the hash of the algorithm the ID token is signed with.
 */
export function hashClaim(value: string, alg: string): string {
  const hash = HASH_OF[alg];
  if (!hash) throw new Error(`no ID token hash is defined for ${alg}`);
  const digest = createHash(hash).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}
