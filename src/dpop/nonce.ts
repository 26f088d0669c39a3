import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stateless DPoP server nonces (RFC 9449 §8, §9): a nonce is the number of the time window it was
 * issued in and an HMAC of that number under a key every replica shares, so any replica accepts any
 * replica's nonce without a store. A nonce is accepted in its own window and the next, so one issued
 * just before a window ends still works for a whole window.
 */
export class DpopNonces {
  readonly #key: Buffer;

  constructor(
    key: string | undefined,
    private readonly windowSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    // Without a configured key (one process, memory store) a random one does: no other replica exists.
    this.#key = key === undefined ? randomBytes(32) : Buffer.from(key, 'utf8');
  }

  /** The nonce of the current window. */
  current(): string {
    return this.#nonceFor(this.#window());
  }

  valid(nonce: unknown): boolean {
    if (typeof nonce !== 'string' || nonce.length > 64) return false;
    const dot = nonce.indexOf('.');
    if (dot <= 0 || !/^\d{1,12}$/.test(nonce.slice(0, dot))) return false;
    const window = Number(nonce.slice(0, dot));
    const current = this.#window();
    if (window !== current && window !== current - 1) return false;
    const expected = Buffer.from(this.#nonceFor(window));
    const given = Buffer.from(nonce);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  #window(): number {
    return Math.floor(this.now() / 1000 / this.windowSeconds);
  }

  #nonceFor(window: number): string {
    const mac = createHmac('sha256', this.#key).update(`dpop-nonce:${this.windowSeconds}:${window}`).digest().subarray(0, 18);
    return `${window}.${mac.toString('base64url')}`;
  }
}
