import { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import { keyWeakness } from '../keys/key-strength.js';

/** A proof's public key, imported, with its RFC 7638 thumbprint (`jkt`). */
export interface ProofKey {
  key: KeyObject;
  jkt: string;
}

// RFC 7517 private members, and the symmetric key's `k`: a proof carries a public key only.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * Imports the public keys of DPoP proofs, remembering the last few thousand by their JSON text and
 * algorithm: a client proves with one key for many calls, and importing it is a large share of a
 * proof's cost. Bounded: the least recently used go first.
 */
export class ProofKeyCache {
  readonly #entries = new Map<string, ProofKey>();

  constructor(private readonly maxEntries = 5_000) {}

  readonly #headers = new Map<string, { alg: string; key: ProofKey }>();

  get size(): number {
    return this.#entries.size;
  }

  /**
   * A protected header (its base64url text) that passed every header check before, with its key: a
   * client's proofs share one header, so the next proof skips decoding and checking it again. The
   * rules it was checked against are fixed for the life of the process.
   */
  vettedHeader(segment: string): { alg: string; key: ProofKey } | undefined {
    const known = this.#headers.get(segment);
    if (known) {
      this.#headers.delete(segment);
      this.#headers.set(segment, known);
    }
    return known;
  }

  rememberHeader(segment: string, alg: string, key: ProofKey): void {
    if (segment.length > 4096) return;
    if (this.#headers.size >= this.maxEntries) this.#headers.delete(this.#headers.keys().next().value!);
    this.#headers.set(segment, { alg, key });
  }

  /** Undefined when the jwk is not a usable public key for `alg`. */
  async import(jwk: unknown, alg: string): Promise<ProofKey | undefined> {
    if (!isObject(jwk) || typeof jwk.kty !== 'string' || jwk.kty === 'oct') return undefined;
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) return undefined;
    const id = `${alg}\u0000${JSON.stringify(jwk)}`;
    const cached = this.#entries.get(id);
    if (cached) {
      this.#entries.delete(id);
      this.#entries.set(id, cached);
      return cached;
    }
    let entry: ProofKey;
    try {
      // jose checks that the key is a public key of the algorithm's type and curve.
      const imported = await importJWK(jwk as JWK, alg);
      if (imported instanceof Uint8Array) return undefined;
      const key = KeyObject.from(imported);
      // FAPI 2.0 §5.4.1 key sizes hold for proof keys as for every other key.
      if (key.type !== 'public' || keyWeakness(key) !== undefined) return undefined;
      entry = { key, jkt: await calculateJwkThumbprint(jwk as JWK, 'sha256') };
    } catch {
      return undefined;
    }
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(id, entry);
    return entry;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
