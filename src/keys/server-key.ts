import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { keyWeakness } from './key-strength.js';

export interface ImportedServerKey {
  kid: string;
  alg: string;
  /** Imported once, in the form jose signs and decrypts with fastest. */
  privateKey: CryptoKey;
  /** The public half with its kid, use and alg: what the JWKS publishes. */
  publicJwk: JWK;
}

/**
 * Checks one private JWK of a server key file (`keys.signing`, `keys.encryption`) and imports it once:
 * a new `kid`, an allowed `alg`, the right `use`, private material, a key strong enough. Every
 * refusal names `where`.
 */
export async function importServerKey(
  jwk: JWK,
  where: string,
  seenKids: Set<string>,
  rule: { use: 'sig' | 'enc'; algorithms: readonly string[]; allowedText: string; purpose: string },
): Promise<ImportedServerKey> {
  if (!jwk.kid) throw new ConfigError(where, 'every key needs a "kid"');
  if (seenKids.has(jwk.kid)) throw new ConfigError(where, `duplicate kid "${jwk.kid}"`);
  seenKids.add(jwk.kid);
  if (!jwk.alg || !rule.algorithms.includes(jwk.alg)) throw new ConfigError(where, `"alg" must be one of ${rule.allowedText}, got ${JSON.stringify(jwk.alg)}`);
  if (jwk.use !== undefined && jwk.use !== rule.use) throw new ConfigError(where, `"use" must be "${rule.use}"`);
  if (jwk.d === undefined) throw new ConfigError(where, `a private key is required to ${rule.purpose}`);
  let keyObject: KeyObject;
  let privateKey: CryptoKey;
  try {
    keyObject = createPrivateKey({ key: jwk as never, format: 'jwk' });
    privateKey = (await importJWK(jwk, jwk.alg)) as CryptoKey;
  } catch (err) {
    throw new ConfigError(where, `not a usable ${jwk.alg} key: ${(err as Error).message}`);
  }
  const weakness = keyWeakness(keyObject);
  if (weakness) throw new ConfigError(where, weakness);
  // Derived from the public key object, so no private member can reach the published JWKS.
  const publicJwk: JWK = { ...(createPublicKey(keyObject).export({ format: 'jwk' }) as JWK), kid: jwk.kid, use: rule.use, alg: jwk.alg };
  return { kid: jwk.kid, alg: jwk.alg, privateKey, publicJwk };
}
