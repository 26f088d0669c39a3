/**
 * Token buckets by key (a client address), in a table bounded by `maxKeys`: the least recently
 * seen key goes when the table is full, so a flood of addresses costs a bounded amount of memory.
 * A bucket holds up to `burst` tokens and refills at `perMinute` a minute; each request takes one.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; updatedMs: number; limited: boolean }>();
  readonly #perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly maxKeys: number,
  ) {
    this.#perMs = perMinute / 60_000;
  }

  /**
   * Takes a token for `key`. Refused: `retryAfterSeconds` until one is back, and `first` when this is
   * the first refusal since the key was last allowed (so an episode is reported once, not per request).
   */
  take(key: string, nowMs = Date.now()): { allowed: true } | { allowed: false; retryAfterSeconds: number; first: boolean } {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // re-inserted below: Map order is recency order
      bucket.tokens = Math.min(this.burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.#perMs);
      bucket.updatedMs = nowMs;
    } else {
      bucket = { tokens: this.burst, updatedMs: nowMs, limited: false };
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.limited = false;
      return { allowed: true };
    }
    const first = !bucket.limited;
    bucket.limited = true;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)), first };
  }

  get size(): number {
    return this.#buckets.size;
  }
}
