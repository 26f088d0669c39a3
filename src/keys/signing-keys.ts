import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, Profile } from '../config/schema.js';
import { readConfigFile } from '../tls/server-credentials.js';
import { keyFileWarning, type KeyFileWarning } from './key-file-permissions.js';
import { keyWeakness } from './key-strength.js';

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
    for (const [i, jwk] of document.keys.entries()) {
      const at = `keys.signing (${keysConfig.signing}) keys[${i}]`;
      if (!jwk.kid) throw new ConfigError(at, 'every key needs a "kid"');
      if (kids.has(jwk.kid)) throw new ConfigError(at, `duplicate kid "${jwk.kid}"`);
      kids.add(jwk.kid);
      if (!jwk.alg || !profile.algorithms.signing.includes(jwk.alg as never))
        throw new ConfigError(at, `"alg" must be one of ${profile.algorithms.signing.join(', ')} (profile ${profile.name}), got ${JSON.stringify(jwk.alg)}`);
      if (jwk.use && jwk.use !== 'sig') throw new ConfigError(at, '"use" must be "sig"');
      if (jwk.d === undefined) throw new ConfigError(at, 'a private key is required to sign');
      let keyObject: KeyObject;
      let privateKey: CryptoKey;
      try {
        keyObject = createPrivateKey({ key: jwk as never, format: 'jwk' });
        privateKey = (await importJWK(jwk, jwk.alg)) as CryptoKey;
      } catch (err) {
        throw new ConfigError(at, `not a usable ${jwk.alg} key: ${(err as Error).message}`);
      }
      const weakness = keyWeakness(keyObject);
      if (weakness) throw new ConfigError(at, weakness);
      // Derived from the public key object, so no private member can reach the published JWKS.
      const publicJwk: JWK = { ...(createPublicKey(keyObject).export({ format: 'jwk' }) as JWK), kid: jwk.kid, use: 'sig', alg: jwk.alg };
      keys.push({ kid: jwk.kid, alg: jwk.alg, privateKey, publicJwk, publicKey: (await importJWK(publicJwk, jwk.alg)) as CryptoKey });
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
