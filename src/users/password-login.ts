import { setTimeout as sleep } from 'node:timers/promises';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import type { UserDirectory, User } from './directory.js';
import type { Lock, LoginThrottle } from './login-throttle.js';
import { USED_STEP_TTL_SECONDS } from './totp.js';

export type LoginAttempt = { outcome: 'succeeded'; user: User } | { outcome: 'failed' } | ({ outcome: 'throttled' } & Lock);

/**
 * A username and password login, and the one-time code of users with a second factor: refused
 * without a check while the username or address is locked, otherwise checked (one scrypt in a
 * hashing slot; WorkRefused past the limiter), a failure counted and answered after the throttle's
 * delay. Unknown usernames and wrong passwords take the same path, so neither the answer nor its
 * timing tells them apart.
 */
export class PasswordLogin {
  constructor(
    private readonly users: UserDirectory,
    private readonly throttle: LoginThrottle,
    private readonly metrics: Metrics | undefined,
    private readonly store?: Store,
  ) {}

  /** The password step; a user with `totp` has signed in only once `secondFactor` succeeds too. */
  async attempt(username: string, password: string, address: string | undefined): Promise<LoginAttempt> {
    const lock = await this.#locked(username, address);
    if (lock) return lock;
    const user = await this.users.authenticate(username, password);
    if (!user) return this.#failed(username, address, 'credentials');
    if (!user.totp) await this.#succeeded(username);
    return { outcome: 'succeeded', user };
  }

  /** The one-time code of a user whose password was right; a code is accepted once. */
  async secondFactor(user: User, code: string, address: string | undefined): Promise<LoginAttempt> {
    const lock = await this.#locked(user.username, address);
    if (lock) return lock;
    const step = user.totp?.stepOf(code);
    const fresh = step !== undefined && this.store ? await this.store.setIfAbsent('totp-used', `${user.sub}\u0000${step}`, true, USED_STEP_TTL_SECONDS) : step !== undefined;
    if (!fresh) return this.#failed(user.username, address, 'totp');
    await this.#succeeded(user.username);
    return { outcome: 'succeeded', user };
  }

  async #locked(username: string, address: string | undefined): Promise<LoginAttempt | undefined> {
    const lock = await this.throttle.lockFor(username, address);
    if (!lock) return undefined;
    this.metrics?.logins.inc({ outcome: 'throttled' });
    this.metrics?.loginFailures.inc({ reason: 'throttled' });
    return { outcome: 'throttled', ...lock };
  }

  async #failed(username: string, address: string | undefined, reason: 'credentials' | 'totp'): Promise<LoginAttempt> {
    const delay = await this.throttle.failed(username, address);
    this.metrics?.logins.inc({ outcome: 'failed' });
    this.metrics?.loginFailures.inc({ reason });
    if (delay > 0) await sleep(delay);
    return { outcome: 'failed' };
  }

  async #succeeded(username: string): Promise<void> {
    await this.throttle.succeeded(username);
    this.metrics?.logins.inc({ outcome: 'succeeded' });
  }
}
