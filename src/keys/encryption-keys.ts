import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { REQUEST_OBJECT_ENCRYPTION_ALGS } from '../oauth/request-object/policy.js';
import { readConfigFile } from '../tls/server-credentials.js';
import { keyFileWarning, type KeyFileWarning } from './key-file-permissions.js';
import { keyWeakness } from './key-strength.js';

export interface EncryptionKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * The server's encryption keys (`use: enc`): clients encrypt request objects to them. Imported once
 * at start from `keys.encryption`; their public halves are published in the JWKS.
 */
export class EncryptionKeys {
  readonly #byKid = new Map<string, EncryptionKey>();
  keyFileWarning: KeyFileWarning | undefined;

  private constructor(keys: EncryptionKey[]) {
    for (const k of keys) this.#byKid.set(k.kid, k);
  }

  get publicJwks(): JWK[] {
    return [...this.#byKid.values()].map((k) => k.publicJwk);
  }

  get algorithms(): string[] {
    return [...new Set([...this.#byKid.values()].map((k) => k.alg))];
  }

  /** The key a JWE header names by `kid`, or the only key of its `alg`. */
  keyFor(header: { kid?: string; alg?: string }): EncryptionKey | undefined {
    if (header.kid !== undefined) {
      const key = this.#byKid.get(header.kid);
      return key && key.alg === header.alg ? key : undefined;
    }
    const candidates = [...this.#byKid.values()].filter((k) => k.alg === header.alg);
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  static async load(file: string): Promise<EncryptionKeys> {
    const at = 'keys.encryption';
    let document: { keys?: JWK[] };
    try {
      document = JSON.parse((await readConfigFile(file, at)).toString('utf8'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(at, `${file} is not a JSON Web Key Set`);
    }
    if (!Array.isArray(document.keys) || document.keys.length === 0) throw new ConfigError(at, `${file} holds no keys`);
    const keys: EncryptionKey[] = [];
    for (const [i, jwk] of document.keys.entries()) {
      const where = `${at} (${file}) keys[${i}]`;
      if (!jwk.kid) throw new ConfigError(where, 'every key needs a "kid"');
      if (keys.some((k) => k.kid === jwk.kid)) throw new ConfigError(where, `duplicate kid "${jwk.kid}"`);
      if (!jwk.alg || !(REQUEST_OBJECT_ENCRYPTION_ALGS as readonly string[]).includes(jwk.alg))
        throw new ConfigError(where, `"alg" must be one of ${REQUEST_OBJECT_ENCRYPTION_ALGS.join(', ')}, got ${JSON.stringify(jwk.alg)}`);
      if (jwk.use !== undefined && jwk.use !== 'enc') throw new ConfigError(where, '"use" must be "enc"');
      if (jwk.d === undefined) throw new ConfigError(where, 'a private key is required to decrypt');
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
      const publicJwk: JWK = { ...(createPublicKey(keyObject).export({ format: 'jwk' }) as JWK), kid: jwk.kid, use: 'enc', alg: jwk.alg };
      keys.push({ kid: jwk.kid, alg: jwk.alg, privateKey, publicJwk });
    }
    const loaded = new EncryptionKeys(keys);
    loaded.keyFileWarning = await keyFileWarning(file, at);
    return loaded;
  }
}
