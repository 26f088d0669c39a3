import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';

/** A 256-bit random value, base64url: codes, refresh tokens, request_uris, session and interaction ids. */
export function randomToken(): string {
  return randomBase64url(32);
}

// Random bytes are drawn from the CSPRNG 4 KiB at a time and handed out in slices, never twice, as
// node does for randomUUID: one call into OpenSSL (with its fork check, a system call) per 128
// tokens rather than per token; a flow draws about eight.
const pool = Buffer.alloc(4096);
let drawn = pool.length;

/** `bytes` (at most 4096) random bytes, base64url. */
export function randomBase64url(bytes: number): string {
  if (drawn + bytes > pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  const value = pool.toString('base64url', drawn, drawn + bytes);
  drawn += bytes;
  return value;
}

/** Codes and refresh tokens are stored under their hash, so a leaked store does not leak usable credentials. */
export function storageKey(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** PKCE S256 (RFC 7636 §4.6). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
