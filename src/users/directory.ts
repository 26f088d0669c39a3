import { ConfigError } from '../config/config-error.js';
import type { UserConfig } from '../config/schema.js';
import { parsePasswordHash, samePlainPassword, verifyPassword, type ParsedHash } from './password.js';

export interface User {
  username: string;
  sub: string;
  claims: Record<string, unknown>;
}

interface Entry extends User {
  hash?: ParsedHash;
  plain?: string;
}

// Checked when the username is unknown, so that the answer takes as long as for a known one.
const DECOY = parsePasswordHash('$scrypt$N=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')!;

/** The built-in user directory for sandboxes and conformance runs. */
export class UserDirectory {
  readonly #users = new Map<string, Entry>();
  readonly #bySub = new Map<string, User>();
  readonly plainPasswordUsers: string[] = [];

  constructor(users: UserConfig[]) {
    for (const [i, u] of users.entries()) {
      const at = `users[${i}]`;
      if (this.#users.has(u.username)) throw new ConfigError(`${at}.username`, `duplicate username "${u.username}"`);
      if ((u.passwordHash === undefined) === (u.password === undefined)) throw new ConfigError(at, 'give exactly one of passwordHash or password');
      const hash = u.passwordHash === undefined ? undefined : parsePasswordHash(u.passwordHash);
      if (u.passwordHash !== undefined && !hash) throw new ConfigError(`${at}.passwordHash`, 'not a valid $scrypt$N=…,r=…,p=…$salt$hash string');
      if (u.password !== undefined) this.plainPasswordUsers.push(u.username);
      const user: User = { username: u.username, sub: u.sub ?? u.username, claims: u.claims ?? {} };
      if (this.#bySub.has(user.sub)) throw new ConfigError(`${at}.sub`, `duplicate sub "${user.sub}"`);
      this.#users.set(u.username, { ...user, hash, plain: u.password });
      this.#bySub.set(user.sub, user);
    }
  }

  /** The user, when the password is right; undefined otherwise (in about the same time either way). */
  async authenticate(username: string, password: string): Promise<User | undefined> {
    const entry = this.#users.get(username);
    if (!entry) {
      await verifyPassword(password, DECOY);
      return undefined;
    }
    const ok = entry.hash ? await verifyPassword(password, entry.hash) : samePlainPassword(password, entry.plain!);
    return ok ? { username: entry.username, sub: entry.sub, claims: entry.claims } : undefined;
  }

  bySub(sub: string): User | undefined {
    return this.#bySub.get(sub);
  }

  claimNames(): string[] {
    return [...new Set([...this.#users.values()].flatMap((u) => Object.keys(u.claims)))];
  }
}
