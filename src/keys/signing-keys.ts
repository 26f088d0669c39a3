import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, Profile } from '../config/schema.js';
import { readConfigFile } from '../tls/server-credentials.js';
import { keyFileWarning, type KeyFileWarning } from './key-file-permissions.js';
import { importServerKey } from './server-key.js';

export interface SigningKey {
  kid: string;
  alg: string;
  /** Imported once, in the form jose signs with fastest. */
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicKey: CryptoKey;
}

/** The server's signing keys, imported once at start. Several keys may be published; one per algorithm signs. */
export class SigningKeys {
  readonly #active = new Map<string, SigningKey>();
  readonly #verification = new Map<string, { alg: string; key: CryptoKey }>();
  /** The public JWKS document, serialised once. */
  readonly publicJwksJson: string;
  readonly algorithms: string[];
  /** The keys file is readable by others: warned about at start. */
  keyFileWarning: KeyFileWarning | undefined;

  private constructor(keys: SigningKey[], active: string[] | undefined) {
    const publicKeys: JWK[] = [];
    for (const k of keys) {
      this.#verification.set(k.kid, { alg: k.alg, key: k.publicKey });
      publicKeys.push(k.publicJwk);
      const chosen = active ? active.includes(k.kid) : !this.#active.has(k.alg);
      if (chosen) this.#active.set(k.alg, k);
    }
    this.publicJwksJson = JSON.stringify({ keys: publicKeys });
    this.algorithms = [...this.#active.keys()];
  }

  static async load(keysConfig: ConfigFile['keys'], profile: Profile): Promise<SigningKeys> {
    let document: { keys?: JWK[] };
    try {
      document = JSON.parse((await readConfigFile(keysConfig.signing, 'keys.signing')).toString('utf8'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('keys.signing', `${keysConfig.signing} is not a JSON Web Key Set`);
    }
    if (!Array.isArray(document.keys) || document.keys.length === 0)
      throw new ConfigError('keys.signing', `${keysConfig.signing} holds no keys`);
    const kids = new Set<string>();
    const keys: SigningKey[] = [];
    const rule = { use: 'sig', algorithms: profile.algorithms.signing, allowedText: `${profile.algorithms.signing.join(', ')} (profile ${profile.name})`, purpose: 'sign' } as const;
    for (const [i, jwk] of document.keys.entries()) {
      const key = await importServerKey(jwk, `keys.signing (${keysConfig.signing}) keys[${i}]`, kids, rule);
      keys.push({ ...key, publicKey: (await importJWK(key.publicJwk, key.alg)) as CryptoKey });
    }
    for (const kid of keysConfig.active ?? [])
      if (!kids.has(kid)) throw new ConfigError('keys.active', `no key with kid "${kid}" in ${keysConfig.signing}`);
    const signingKeys = new SigningKeys(keys, keysConfig.active);
    if (signingKeys.algorithms.length === 0) throw new ConfigError('keys.active', 'no active signing key');
    signingKeys.keyFileWarning = await keyFileWarning(keysConfig.signing, 'keys.signing');
    return signingKeys;
  }

  /** The active key for `alg`, or for the first algorithm of the preference list that has one. */
  signingKey(preferred: readonly string[]): SigningKey | undefined {
    for (const alg of preferred) {
      const key = this.#active.get(alg);
      if (key) return key;
    }
    return undefined;
  }

  verificationKey(kid: string | undefined): { alg: string; key: CryptoKey } | undefined {
    return kid === undefined ? undefined : this.#verification.get(kid);
  }
}
