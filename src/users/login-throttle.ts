import { createHash } from 'node:crypto';
import type { ConfigFile } from '../config/schema.js';
import type { Store } from '../store/store.js';

type ThrottleSettings = ConfigFile['loginThrottle'];
type ThrottleConfig = Omit<ThrottleSettings, 'delayMs' | 'maxDelayMs'> & Partial<Pick<ThrottleSettings, 'delayMs' | 'maxDelayMs'>>;

/** What is remembered of one username's (or address's) failures; a record lives `windowSeconds` past the last change. */
interface Failures {
  /** Failures since the last lockout ended. */
  count: number;
  /** Lockouts so far: each one lasts twice as long as the one before. */
  lockouts: number;
  /** Epoch ms; 0 when not locked. */
  lockedUntil: number;
}

export interface Lock {
  scope: 'username' | 'address';
  retryAfterSeconds: number;
}

/**
 * Slows password guessing: every failure is answered after a delay that doubles with each failure
 * of the username or address (`delayMs` up to `maxDelayMs`), and after `maxFailures` failed logins for a username (or
 * `maxFailuresPerAddress` from one client address) further attempts are refused without checking
 * the password, for `lockSeconds`, doubling with every lockout up to `maxLockSeconds`. Unknown
 * usernames are counted like known ones, so a lockout says nothing about which names exist.
 *
 * The count is read and written in two steps, so concurrent failures may be counted as one: the
 * hashing limiter bounds how many guesses can be in flight at once, which bounds that loss.
 */
export class LoginThrottle {
  constructor(
    private readonly store: Store,
    private readonly config: ThrottleConfig,
  ) {}

  /** The lock that applies now, if any. */
  async lockFor(username: string, address: string | undefined): Promise<Lock | undefined> {
    const keys = this.#keys(username, address);
    const records = await Promise.all(keys.map(([, id]) => this.store.get<Failures>('login-failures', id)));
    const now = Date.now();
    let lock: Lock | undefined;
    records.forEach((r, i) => {
      if (!r || r.lockedUntil <= now) return;
      const retryAfterSeconds = Math.ceil((r.lockedUntil - now) / 1000);
      if (!lock || retryAfterSeconds > lock.retryAfterSeconds) lock = { scope: keys[i][0], retryAfterSeconds };
    });
    return lock;
  }

  /** Counts a failure; resolves to how long its answer should wait (ms). */
  async failed(username: string, address: string | undefined): Promise<number> {
    const limits = this.#keys(username, address).map(([scope, id]) => [id, scope === 'username' ? this.config.maxFailures : this.config.maxFailuresPerAddress] as const);
    const counts = await Promise.all(limits.map(([id, limit]) => this.#count(id, limit)));
    const { delayMs = 0, maxDelayMs = 0 } = this.config;
    // A failure that locks needs no delay: the lockout answers the next attempts.
    if (counts.some((count, i) => count >= limits[i][1])) return 0;
    const failures = Math.max(...counts);
    return failures > 0 ? Math.min(maxDelayMs, delayMs * 2 ** Math.min(failures - 1, 20)) : 0;
  }

  /** A right password clears the username's failures (not the address's: one known account must not reset a guesser's count). */
  async succeeded(username: string): Promise<void> {
    await this.store.delete('login-failures', usernameKey(username));
  }

  /** Counts a failure of `id`; resolves to the failures counted so far in this round (before a lockout). */
  async #count(id: string, limit: number): Promise<number> {
    const now = Date.now();
    const previous = await this.store.get<Failures>('login-failures', id);
    const record: Failures = previous ? { ...previous } : { count: 0, lockouts: 0, lockedUntil: 0 };
    // Already locked (a concurrent failure got there first): nothing more to count.
    if (record.lockedUntil > now) return limit;
    record.count++;
    const counted = record.count;
    let ttl = this.config.windowSeconds;
    if (record.count >= limit) {
      const seconds = Math.min(this.config.maxLockSeconds, this.config.lockSeconds * 2 ** Math.min(record.lockouts, 20));
      record.lockedUntil = now + seconds * 1000;
      record.lockouts++;
      record.count = 0;
      ttl = Math.max(ttl, seconds);
    }
    await this.store.set('login-failures', id, record, ttl);
    return counted;
  }

  #keys(username: string, address: string | undefined): ['username' | 'address', string][] {
    const keys: ['username' | 'address', string][] = [['username', usernameKey(username)]];
    if (address && this.config.maxFailuresPerAddress > 0) keys.push(['address', `a:${address}`]);
    return keys;
  }
}

// Usernames are whatever a browser sends: the key holds a digest, bounded in size and not the name itself.
const usernameKey = (username: string) => `u:${createHash('sha256').update(username).digest('base64url')}`;
