import type { AccessTokenClaims } from './access-token.js';

/**
 * Access tokens whose signature, type, issuer, audience and expiry have been verified, kept by their
 * exact text until they expire, so a client calling again with the same token skips the signature
 * check (the largest cost of a resource call). Revocation, the certificate binding and scopes are
 * still checked on every call. Bounded: the oldest entries go first.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, AccessTokenClaims>();

  constructor(private readonly maxEntries = 10_000) {}

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
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(token, claims);
  }

  clear(): void {
    this.#entries.clear();
  }
}
