import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import { randomToken, storageKey } from './secrets.js';

/** A refresh token as stored (under the hash of the token). */
export interface RefreshTokenRecord {
  grantId: string;
  clientId: string;
  scope: string;
  issuedAt: number;
  /** Seconds since the epoch; undefined: lives as long as its grant (at most the grant's maximum). */
  expiresAt?: number;
  /** Set when a rotation replaced this token: it then lives only until its grace period ends. */
  rotatedAt?: number;
}

/**
 * The refresh-token lifetime for a grant (0: as long as the grant), or 'none' when its client may
 * not use refresh tokens: the ecosystem decides if it wants, the profile otherwise.
 */
export function refreshTokenLifetime(ctx: GatewayContext, grant: Grant): number | 'none' {
  return ctx.grants.lifetimes.refreshToken(grant);
}

/** Writes a refresh token, kept for its lifetime and never past its grant's end (which nothing outlives). */
export async function issueRefreshToken(ctx: GatewayContext, grant: Grant, scope: string, lifetime: number): Promise<string> {
  const token = randomToken();
  const now = Math.floor(Date.now() / 1000);
  const record: RefreshTokenRecord = { grantId: grant.id, clientId: grant.clientId, scope, issuedAt: now };
  const grantLeft = Math.max(1, ctx.grants.remainingSeconds(grant));
  // One that lives as long as its grant is kept up to the grant's maximum: an ecosystem may move the
  // grant's end later (a consent extended), and the grant's own record refuses it once over.
  const ttl = lifetime > 0 ? Math.min(lifetime, grantLeft) : Math.max(grantLeft, grant.createdAt + ctx.grants.lifetimes.maxSeconds - now);
  if (lifetime > 0) record.expiresAt = now + ttl;
  await ctx.store.set('refresh', storageKey(token), record, ttl);
  return token;
}

export function findRefreshToken(ctx: GatewayContext, token: string): Promise<RefreshTokenRecord | undefined> {
  return ctx.store.get<RefreshTokenRecord>('refresh', storageKey(token));
}

/** Deletes a refresh token that was written but must not be used. */
export function forgetRefreshToken(ctx: GatewayContext, token: string): Promise<void> {
  return ctx.store.delete('refresh', storageKey(token));
}
