import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, Profile } from '../config/schema.js';
import { readConfigFile } from '../tls/server-credentials.js';
import { keyFileWarning, type KeyFileWarning } from './key-file-permissions.js';
import { importServerKey } from './server-key.js';
import { fileKeySigner } from './signers/file-signer.js';
import type { Signer } from './signers/signer.js';

/** A key the server signs with: its signer and the public half the JWKS publishes. */
export interface SigningKey extends Signer {
  publicJwk: JWK;
  /** Imported once, for verifying the server's own tokens. */
  publicKey: CryptoKey;
}

/**
 * The keys file: a JWK Set of private keys. Every key in it is **published** (in the JWKS); the kids
 * in `active` (a member RFC 7517 §5 lets a JWK Set carry) **sign**, one per algorithm. `rotation`
 * records when `fapi-gateway keys rotate` published, activated and retired each key.
 */
export interface KeysFileDocument {
  keys?: JWK[];
  active?: string[];
  rotation?: Record<string, { published?: string; activated?: string; retired?: string }>;
}

interface KeySet {
  active: Map<string, SigningKey>;
  verification: Map<string, { alg: string; key: CryptoKey }>;
  published: SigningKey[];
  publicJwksJson: string;
  algorithms: string[];
}

export type KeySetLoader = () => Promise<{ keys: SigningKey[]; active: string[] | undefined; where: string }>;

/**
 * The server's signing keys, imported once per load. Several keys may be published; one per
 * algorithm signs. A reload (the keys file changed, SIGHUP) swaps the whole set at once, or, when
 * the new file is refused, keeps the old one.
 */
export class SigningKeys {
  #set: KeySet;
  readonly #changeListeners: (() => void)[] = [];
  /** The keys file is readable by others: warned about at start. */
  keyFileWarning: KeyFileWarning | undefined;

  private constructor(
    set: KeySet,
    readonly source: { file?: string; loader: KeySetLoader },
  ) {
    this.#set = set;
  }

  static async load(keysConfig: ConfigFile['keys'], profile: Profile): Promise<SigningKeys> {
    if (keysConfig.signer) {
      const { loadPkcs11Keys } = await import('./signers/pkcs11-keys.js');
      const loader: KeySetLoader = async () => ({ ...(await loadPkcs11Keys(keysConfig.signer!, profile)), active: keysConfig.active, where: 'keys.active' });
      return new SigningKeys(await buildKeySet(loader, undefined), { loader });
    }
    if (!keysConfig.signing) throw new ConfigError('keys.signing', 'a JWKS file of signing keys (or keys.signer) is required');
    const file = keysConfig.signing;
    const loader: KeySetLoader = async () => {
      const document = await readKeysFile(file);
      return { keys: await importKeysFile(document, file, profile), active: document.active ?? keysConfig.active, where: document.active ? `keys.signing (${file}) active` : 'keys.active' };
    };
    const signingKeys = new SigningKeys(await buildKeySet(loader, undefined), { file, loader });
    signingKeys.keyFileWarning = await keyFileWarning(file, 'keys.signing');
    return signingKeys;
  }

  /**
   * Reads the keys again and swaps them in. Throws a ConfigError (and keeps the keys in use) when the
   * new set is unusable or no longer signs an algorithm the current set signs: clients were checked
   * at start against those algorithms.
   */
  async reload(): Promise<boolean> {
    // Keys in a token are named by the config, which is read once: they change with a restart.
    if (this.source.file === undefined) return false;
    const next = await buildKeySet(this.source.loader, this.#set.algorithms);
    if (next.publicJwksJson === this.#set.publicJwksJson && sameActive(next, this.#set)) return false;
    this.#set = next;
    for (const listener of this.#changeListeners) listener();
    return true;
  }

  /** Called after every reload that changed the keys. */
  onChange(listener: () => void): void {
    this.#changeListeners.push(listener);
  }

  /** The public JWKS document, serialised once per load. */
  get publicJwksJson(): string {
    return this.#set.publicJwksJson;
  }

  get algorithms(): string[] {
    return this.#set.algorithms;
  }

  /** Every published key (kid, alg, public JWK) and whether it signs. */
  describe(): { kid: string; alg: string; active: boolean; publicJwk: JWK }[] {
    return this.#set.published.map((k) => ({ kid: k.kid, alg: k.alg, active: this.#set.active.get(k.alg) === k, publicJwk: k.publicJwk }));
  }

  /** The active key for `alg`, or for the first algorithm of the preference list that has one. */
  signingKey(preferred: readonly string[]): SigningKey | undefined {
    const active = this.#set.active;
    for (const alg of preferred) {
      const key = active.get(alg);
      if (key) return key;
    }
    return undefined;
  }

  verificationKey(kid: string | undefined): { alg: string; key: CryptoKey } | undefined {
    return kid === undefined ? undefined : this.#set.verification.get(kid);
  }
}

async function buildKeySet(loader: KeySetLoader, mustSign: string[] | undefined): Promise<KeySet> {
  const { keys, active, where } = await loader();
  const kids = new Set(keys.map((k) => k.kid));
  for (const kid of active ?? []) if (!kids.has(kid)) throw new ConfigError(where, `no key with kid "${kid}"`);
  const set: KeySet = { active: new Map(), verification: new Map(), published: keys, publicJwksJson: '', algorithms: [] };
  for (const k of keys) {
    set.verification.set(k.kid, { alg: k.alg, key: k.publicKey });
    const chosen = active ? active.includes(k.kid) : !set.active.has(k.alg);
    if (!chosen) continue;
    if (set.active.has(k.alg)) throw new ConfigError(where, `two active keys for ${k.alg} ("${set.active.get(k.alg)!.kid}", "${k.kid}"): one per algorithm signs`);
    set.active.set(k.alg, k);
  }
  set.publicJwksJson = JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
  set.algorithms = [...set.active.keys()];
  if (set.algorithms.length === 0) throw new ConfigError(where, 'no active signing key');
  for (const alg of mustSign ?? [])
    if (!set.active.has(alg)) throw new ConfigError(where, `no active ${alg} key: the keys in use sign ${alg}, and a reload cannot take an algorithm away (restart to do so)`);
  return set;
}

function sameActive(a: KeySet, b: KeySet): boolean {
  return a.algorithms.length === b.algorithms.length && a.algorithms.every((alg) => a.active.get(alg)!.kid === b.active.get(alg)?.kid);
}

export async function readKeysFile(file: string): Promise<KeysFileDocument> {
  let document: KeysFileDocument;
  try {
    document = JSON.parse((await readConfigFile(file, 'keys.signing')).toString('utf8'));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('keys.signing', `${file} is not a JSON Web Key Set`);
  }
  if (typeof document !== 'object' || document === null) throw new ConfigError('keys.signing', `${file} is not a JSON Web Key Set`);
  if (document.active !== undefined && (!Array.isArray(document.active) || !document.active.every((kid) => typeof kid === 'string' && kid !== '')))
    throw new ConfigError('keys.signing', `${file}: "active" must be a list of kids`);
  return document;
}

async function importKeysFile(document: KeysFileDocument, file: string, profile: Profile): Promise<SigningKey[]> {
  if (!Array.isArray(document.keys) || document.keys.length === 0) throw new ConfigError('keys.signing', `${file} holds no keys`);
  const kids = new Set<string>();
  const keys: SigningKey[] = [];
  const rule = { use: 'sig', algorithms: profile.algorithms.signing, allowedText: `${profile.algorithms.signing.join(', ')} (profile ${profile.name})`, purpose: 'sign' } as const;
  for (const [i, jwk] of document.keys.entries()) {
    const key = await importServerKey(jwk, `keys.signing (${file}) keys[${i}]`, kids, rule);
    keys.push({ ...fileKeySigner(key.kid, key.alg, key.privateKey), publicJwk: key.publicJwk, publicKey: (await importJWK(key.publicJwk, key.alg)) as CryptoKey });
  }
  return keys;
}
