import type { JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { REQUEST_OBJECT_ENCRYPTION_ALGS } from '../oauth/request-object/policy.js';
import { readConfigFile } from '../tls/server-credentials.js';
import { keyFileWarning, type KeyFileWarning } from './key-file-permissions.js';
import { importServerKey } from './server-key.js';

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
    const kids = new Set<string>();
    const keys: EncryptionKey[] = [];
    const rule = { use: 'enc', algorithms: REQUEST_OBJECT_ENCRYPTION_ALGS, allowedText: REQUEST_OBJECT_ENCRYPTION_ALGS.join(', '), purpose: 'decrypt' } as const;
    for (const [i, jwk] of document.keys.entries()) keys.push(await importServerKey(jwk, `${at} (${file}) keys[${i}]`, kids, rule));
    const loaded = new EncryptionKeys(keys);
    loaded.keyFileWarning = await keyFileWarning(file, at);
    return loaded;
  }
}
