import { createPublicKey, type KeyObject } from 'node:crypto';
import { importJWK, type JWK, type JSONWebKeySet } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { keyWeakness } from '../keys/key-strength.js';

/** A client's public encryption key, imported for one JWE key management algorithm. */
export interface ClientEncryptionKey {
  key: CryptoKey;
  kid: string | undefined;
  alg: string;
}

/** The client's encryption key for a JWE `alg`; throws ClientEncryptionKeyMissing when it has none. */
export type EncryptionKeySource = (alg: string) => Promise<ClientEncryptionKey>;

export class ClientEncryptionKeyMissing extends Error {
  override readonly name = 'ClientEncryptionKeyMissing';
}

/** Whether a JWK can take a JWE key management algorithm: RSA for RSA-OAEP*, EC or X25519 for ECDH-ES. */
function fits(jwk: JWK, alg: string): boolean {
  if (jwk.use !== 'enc') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.key_ops && !jwk.key_ops.some((op) => op === 'encrypt' || op === 'wrapKey' || op === 'deriveKey')) return false;
  if (alg.startsWith('RSA-OAEP')) return jwk.kty === 'RSA';
  if (alg.startsWith('ECDH-ES')) return jwk.kty === 'EC' || (jwk.kty === 'OKP' && jwk.crv === 'X25519');
  return false;
}

/**
 * The key to encrypt to among a client's keys: a `use: enc` key of the right type, one that names
 * `alg` preferred over one that names none (and then the first, in the client's order).
 */
export function chooseEncryptionJwk(keys: readonly JWK[], alg: string): JWK | undefined {
  const candidates = keys.filter((k) => fits(k, alg));
  return candidates.find((k) => k.alg === alg) ?? candidates[0];
}

/** Checks a client's registered public key (parseable, strong enough); throws ConfigError at `at`. */
export function checkPublicJwk(jwk: JWK, at: string): void {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch (err) {
    throw new ConfigError(at, `not a usable public key: ${(err as Error).message}`);
  }
  const weakness = keyWeakness(key);
  if (weakness) throw new ConfigError(at, weakness);
}

/** Encryption keys registered inline (`jwks`): imported once per algorithm, on first use. */
export function localEncryptionKeys(keys: readonly JWK[]): EncryptionKeySource {
  const imported = new Map<string, Promise<ClientEncryptionKey>>();
  return (alg) => {
    let key = imported.get(alg);
    if (!key) {
      const jwk = chooseEncryptionJwk(keys, alg);
      if (!jwk) return Promise.reject(new ClientEncryptionKeyMissing(`the client registered no "use": "enc" key for ${alg}`));
      key = importJWK(jwk, alg).then((k) => ({ key: k as CryptoKey, kid: jwk.kid, alg }));
      imported.set(alg, key);
    }
    return key;
  };
}

/**
 * Encryption keys from a jwks_uri: read from the same cached document that verifies the client's
 * signatures (so one fetch serves both), fetched again when stale. Imports are cached per key
 * and algorithm, and the cache is emptied when the document changes.
 */
export function remoteEncryptionKeys(document: () => Promise<JSONWebKeySet>): EncryptionKeySource {
  let seen: string | undefined;
  const imported = new Map<string, Promise<ClientEncryptionKey>>();
  return async (alg) => {
    const jwks = await document();
    const jwk = chooseEncryptionJwk(jwks.keys, alg);
    if (!jwk) throw new ClientEncryptionKeyMissing(`the client's jwks_uri has no "use": "enc" key for ${alg}`);
    try {
      checkPublicJwk(jwk, 'jwks_uri');
    } catch (err) {
      throw new ClientEncryptionKeyMissing(`the client's encryption key ${jwk.kid ?? ''} is not usable: ${(err as Error).message}`);
    }
    const fingerprint = JSON.stringify(jwks.keys);
    if (fingerprint !== seen) {
      imported.clear();
      seen = fingerprint;
    }
    const id = `${alg} ${JSON.stringify(jwk)}`;
    let key = imported.get(id);
    if (!key) {
      key = importJWK(jwk, alg).then((k) => ({ key: k as CryptoKey, kid: jwk.kid, alg }));
      key.catch(() => imported.delete(id));
      imported.set(id, key);
    }
    return key;
  };
}
