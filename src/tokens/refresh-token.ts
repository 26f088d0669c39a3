import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import { randomToken, storageKey } from './secrets.js';

/** A refresh token as stored (under the hash of the token). */
export interface RefreshTokenRecord {
  grantId: string;
  clientId: string;
  scope: string;
  issuedAt: number;
  /** Seconds since the epoch; undefined: lives as long as its grant. */
  expiresAt?: number;
  /** Set when a rotation replaced this token: it then lives only until its grace period ends. */
  rotatedAt?: number;
}

const FOREVER = 400 * 86_400;

/** The refresh-token lifetime for a grant: the ecosystem decides if it wants, the profile otherwise. */
export function refreshTokenLifetime(ctx: GatewayContext, grant: Grant): number | 'none' {
  const profileDefault = ctx.profile.lifetimes.refreshToken;
  return ctx.hooks.refreshTokenLifetime ? ctx.hooks.refreshTokenLifetime(grant, profileDefault) : profileDefault;
}

export async function issueRefreshToken(ctx: GatewayContext, grant: Grant, scope: string, lifetime: number): Promise<string> {
  const token = randomToken();
  const now = Math.floor(Date.now() / 1000);
  const record: RefreshTokenRecord = { grantId: grant.id, clientId: grant.clientId, scope, issuedAt: now };
  if (lifetime > 0) record.expiresAt = now + lifetime;
  await ctx.store.set('refresh', storageKey(token), record, lifetime > 0 ? lifetime : FOREVER);
  return token;
}

export function findRefreshToken(ctx: GatewayContext, token: string): Promise<RefreshTokenRecord | undefined> {
  return ctx.store.get<RefreshTokenRecord>('refresh', storageKey(token));
}

/** Deletes a refresh token that was written but must not be used. */
export function forgetRefreshToken(ctx: GatewayContext, token: string): Promise<void> {
  return ctx.store.delete('refresh', storageKey(token));
}
