import type { Metrics } from '../observability/metrics.js';
import type { UserDirectory, User } from './directory.js';
import type { Lock, LoginThrottle } from './login-throttle.js';

export type LoginAttempt = { outcome: 'succeeded'; user: User } | { outcome: 'failed' } | ({ outcome: 'throttled' } & Lock);

/**
 * A username and password login: refused without a password check while the username or address
 * is locked, otherwise checked (one scrypt in a hashing slot; WorkRefused past the limiter) and the
 * failure counted.
 */
export class PasswordLogin {
  constructor(
    private readonly users: UserDirectory,
    private readonly throttle: LoginThrottle,
    private readonly metrics: Metrics | undefined,
  ) {}

  async attempt(username: string, password: string, address: string | undefined): Promise<LoginAttempt> {
    const lock = await this.throttle.lockFor(username, address);
    if (lock) {
      this.metrics?.logins.inc({ outcome: 'throttled' });
      return { outcome: 'throttled', ...lock };
    }
    const user = await this.users.authenticate(username, password);
    if (!user) {
      await this.throttle.failed(username, address);
      this.metrics?.logins.inc({ outcome: 'failed' });
      return { outcome: 'failed' };
    }
    await this.throttle.succeeded(username);
    this.metrics?.logins.inc({ outcome: 'succeeded' });
    return { outcome: 'succeeded', user };
  }
}
