import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A 256-bit random value, base64url: codes, refresh tokens, request_uris, session and interaction ids. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
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
