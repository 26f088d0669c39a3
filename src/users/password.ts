import { randomBytes, scrypt, scryptSync, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';

/** Password hashes in the form `$scrypt$N=16384,r=8,p=1$<salt>$<hash>` (base64url). */
const DEFAULT = { N: 16384, r: 8, p: 1 };

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, { ...DEFAULT, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$N=${DEFAULT.N},r=${DEFAULT.r},p=${DEFAULT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** The same, blocking: for tools that write config files. */
export function hashPasswordSync(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { ...DEFAULT, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$N=${DEFAULT.N},r=${DEFAULT.r},p=${DEFAULT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

export function parsePasswordHash(text: string): ParsedHash | undefined {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(text);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || (N & (N - 1)) !== 0 || N > 1 << 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const hash = Buffer.from(m[5], 'base64url');
  if (hash.length < 16) return undefined;
  return { N, r, p, salt: Buffer.from(m[4], 'base64url'), hash };
}

export async function verifyPassword(password: string, stored: ParsedHash): Promise<boolean> {
  const candidate = await scryptAsync(password, stored.salt, stored.hash.length, {
    N: stored.N,
    r: stored.r,
    p: stored.p,
    maxmem: 256 * stored.N * stored.r + 1024 * 1024,
  });
  return timingSafeEqual(candidate, stored.hash);
}

/** Constant-time comparison of a plain-text sandbox password (digests have equal length). */
export function samePlainPassword(password: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(password), digest(expected));
}
