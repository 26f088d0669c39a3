import { ConfigError } from '../config/config-error.js';
import type { UserConfig } from '../config/schema.js';
import { parsePasswordHash, samePlainPassword, verifyPassword, type ParsedHash } from './password.js';
import { TotpSecret } from './totp.js';

/** Where password checks run: a WorkLimiter in the gateway (bounded, refusing past its queue). */
export interface HashingSlots {
  run<T>(work: () => Promise<T>): Promise<T>;
}
const UNBOUNDED: HashingSlots = { run: (work) => work() };

export interface User {
  username: string;
  sub: string;
  claims: Record<string, unknown>;
  /** The `acr` values this user's login reaches (users[].acr); the profile's when absent. */
  acr?: string[];
  /** A second factor is configured: the login asks for a one-time code after the password. */
  totp?: TotpSecret;
}

interface Entry extends User {
  hash?: ParsedHash;
  plain?: string;
}

export interface DirectoryOptions {
  /** Plain-text passwords are refused unless allowed (NODE_ENV=development). */
  allowPlainPasswords?: boolean;
}

// Checked for unknown usernames and plain-password users, so that every login costs one scrypt.
const DECOY = parsePasswordHash('$scrypt$N=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')!;

/** The decoy with the cost parameters most configured hashes use, so it costs what they cost. */
function decoyLike(hashes: ParsedHash[]): ParsedHash {
  const counts = new Map<string, { n: number; hash: ParsedHash }>();
  for (const h of hashes) {
    const key = `${h.N},${h.r},${h.p},${h.hash.length}`;
    const entry = counts.get(key) ?? { n: 0, hash: h };
    entry.n++;
    counts.set(key, entry);
  }
  const common = [...counts.values()].sort((a, b) => b.n - a.n)[0]?.hash;
  return common ? { ...common, salt: DECOY.salt, hash: Buffer.alloc(common.hash.length) } : DECOY;
}

/** The built-in user directory for sandboxes and conformance runs. */
export class UserDirectory {
  readonly #users = new Map<string, Entry>();
  readonly #bySub = new Map<string, User>();
  readonly plainPasswordUsers: string[] = [];
  readonly #decoy: ParsedHash;

  constructor(
    users: UserConfig[],
    private readonly hashing: HashingSlots = UNBOUNDED,
    options: DirectoryOptions = { allowPlainPasswords: true },
  ) {
    for (const [i, u] of users.entries()) {
      const at = `users[${i}]`;
      if (this.#users.has(u.username)) throw new ConfigError(`${at}.username`, `duplicate username "${u.username}"`);
      if ((u.passwordHash === undefined) === (u.password === undefined)) throw new ConfigError(at, 'give exactly one of passwordHash or password');
      const hash = u.passwordHash === undefined ? undefined : parsePasswordHash(u.passwordHash);
      if (u.passwordHash !== undefined && !hash) throw new ConfigError(`${at}.passwordHash`, 'not a valid $scrypt$N=…,r=…,p=…$salt$hash string');
      if (u.password !== undefined && !options.allowPlainPasswords)
        throw new ConfigError(`${at}.password`, 'plain-text passwords are allowed only with NODE_ENV=development: use passwordHash (fapi-gateway hash-password)');
      if (u.password !== undefined) this.plainPasswordUsers.push(u.username);
      const user: User = {
        username: u.username,
        sub: u.sub ?? u.username,
        claims: u.claims ?? {},
        ...(u.acr ? { acr: u.acr } : {}),
        ...(u.totpSecret ? { totp: new TotpSecret(u.totpSecret) } : {}),
      };
      if (this.#bySub.has(user.sub)) throw new ConfigError(`${at}.sub`, `duplicate sub "${user.sub}"`);
      this.#users.set(u.username, { ...user, hash, plain: u.password });
      this.#bySub.set(user.sub, user);
    }
    this.#decoy = decoyLike([...this.#users.values()].flatMap((u) => (u.hash ? [u.hash] : [])));
  }

  /**
   * The user, when the password is right; undefined otherwise. Unknown usernames, plain-password
   * users and hashed ones each cost one scrypt (in a hashing slot), so timing does not tell them
   * apart. Throws WorkRefused when the hashing slots and their queue are full.
   */
  async authenticate(username: string, password: string): Promise<User | undefined> {
    const entry = this.#users.get(username);
    const matches = await this.hashing.run(() => verifyPassword(password, entry?.hash ?? this.#decoy));
    const ok = entry !== undefined && (entry.hash ? matches : samePlainPassword(password, entry.plain!));
    if (!ok) return undefined;
    const { hash: _hash, plain: _plain, ...user } = entry;
    return user;
  }

  bySub(sub: string): User | undefined {
    return this.#bySub.get(sub);
  }

  /** The `acr` values the login of `sub` reaches: the user's own, else the profile's default (none when neither). */
  acrReached(sub: string, profile: { acrValues?: string[] }): string[] {
    return this.#bySub.get(sub)?.acr ?? profile.acrValues ?? [];
  }

  /** Every `acr` value some login reaches, for discovery. */
  acrValues(profile: { acrValues?: string[] }): string[] {
    return [...new Set([...(profile.acrValues ?? []), ...[...this.#bySub.values()].flatMap((u) => u.acr ?? [])])];
  }

  claimNames(): string[] {
    return [...new Set([...this.#users.values()].flatMap((u) => Object.keys(u.claims)))];
  }
}
