import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import type { SequenceStep } from '../store/store.js';
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
  const { token, write } = newRefreshToken(ctx, grant, scope, lifetime);
  await ctx.store.set(write.set, write.id, write.value, write.ttlSeconds);
  return token;
}

/** A new refresh token and its record's write, for a caller that sends it in a sequence of its own. */
export function newRefreshToken(ctx: GatewayContext, grant: Grant, scope: string, lifetime: number): { token: string; write: Extract<SequenceStep, { set: unknown }> } {
  const token = randomToken();
  const now = Math.floor(Date.now() / 1000);
  const record: RefreshTokenRecord = { grantId: grant.id, clientId: grant.clientId, scope, issuedAt: now };
  const grantLeft = Math.max(1, ctx.grants.remainingSeconds(grant));
  // One that lives as long as its grant is kept up to the grant's maximum: an ecosystem may move the
  // grant's end later (a consent extended), and the grant's own record refuses it once over.
  const ttl = lifetime > 0 ? Math.min(lifetime, grantLeft) : Math.max(grantLeft, grant.createdAt + ctx.grants.lifetimes.maxSeconds - now);
  if (lifetime > 0) record.expiresAt = now + ttl;
  return { token, write: { set: 'refresh', id: storageKey(token), value: record, ttlSeconds: ttl } };
}

export function findRefreshToken(ctx: GatewayContext, token: string): Promise<RefreshTokenRecord | undefined> {
  return ctx.store.get<RefreshTokenRecord>('refresh', storageKey(token));
}

/** Deletes a refresh token that was written but must not be used. */
export function forgetRefreshToken(ctx: GatewayContext, token: string): Promise<void> {
  return ctx.store.delete('refresh', storageKey(token));
}
