import type { AccessTokenClaims } from './access-token.js';

/**
 * Access tokens whose signature, type, issuer, audience and expiry have been verified, kept by their
 * exact text until they expire, so a client calling again with the same token skips the signature
 * check (the largest cost of a resource call). Revocation, the certificate binding and scopes are
 * still checked on every call. Bounded: the oldest entries go first.
 *
 * An expired entry is dropped when it is next looked up, and the expired entries at the old end are
 * dropped on every add (tokens come in roughly in expiry order: they share one lifetime). A timer
 * set while the cache holds anything sweeps when the oldest entry expires, so a quiet gateway keeps
 * nothing (each entry is about 2 KB) past its token's life.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, AccessTokenClaims>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(private readonly maxEntries = 10_000) {}

  get size(): number {
    return this.#entries.size;
  }

  get(token: string, nowSeconds: number): AccessTokenClaims | undefined {
    const claims = this.#entries.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp <= nowSeconds) {
      this.#entries.delete(token);
      return undefined;
    }
    return claims;
  }

  add(token: string, claims: AccessTokenClaims): void {
    const now = Math.floor(Date.now() / 1000);
    for (const [oldest, held] of this.#entries) {
      if (held.exp > now && this.#entries.size < this.maxEntries) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(token, claims);
    this.#scheduleSweep();
  }

  clear(): void {
    this.#entries.clear();
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
  }

  #scheduleSweep(): void {
    if (this.#sweep !== undefined) return;
    const oldest = this.#entries.values().next().value;
    if (oldest === undefined) return;
    // At the oldest entry's expiry; at least a second apart, so a busy cache is not swept constantly.
    const delayMs = Math.min(Math.max(oldest.exp * 1000 - Date.now() + 100, 1_000), 3_600_000);
    this.#sweep = setTimeout(() => {
      this.#sweep = undefined;
      const now = Math.floor(Date.now() / 1000);
      for (const [token, claims] of this.#entries) if (claims.exp <= now) this.#entries.delete(token);
      if (this.#entries.size > 0) this.#scheduleSweep();
    }, delayMs);
    // Never keeps the process alive; with nothing cached no timer is left holding the cache.
    this.#sweep.unref();
  }
}
