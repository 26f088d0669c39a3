import type { GatewayContext } from '../../context.js';
import { findRefreshToken, type RefreshTokenRecord } from '../../tokens/refresh-token.js';
import { storageKey } from '../../tokens/secrets.js';
import { tokenResponse } from '../../tokens/token-response.js';
import { invalidGrant, invalidRequest, OAuthError } from '../errors.js';
import type { GrantHandler } from './grant-handler.js';

/**
 * refresh_token (RFC 6749 §6): bound to the client (and its authentication); every new access token
 * is bound to the certificate or the DPoP key of this request (RFC 9449 §5: a confidential client may
 * change its DPoP key). Rotation only where the profile asks; the old token then keeps
 * working for the grace period.
 */
export const refreshTokenGrant: GrantHandler<RefreshTokenRecord | undefined> = {
  read: (ctx, params) => (params.refresh_token === undefined ? Promise.resolve(undefined) : findRefreshToken(ctx, params.refresh_token)),
  handle: async (ctx, params, { client, certificateThumbprint, dpopJkt }, record) => {
    const token = params.refresh_token;
    if (token === undefined) throw invalidRequest('refresh_token is required');
    if (!record || record.clientId !== client.id) throw invalidGrant('the refresh token is invalid');
    const grant = await ctx.grants.get(record.grantId);
    if (!grant) throw invalidGrant('the authorization has ended');
    if (client.registeredAt !== undefined && grant.createdAt < client.registeredAt) throw invalidGrant('the authorization has ended');

    // A grant replaced since (Grant Management) holds less: a refresh token never gives more than its grant holds now.
    const holds = new Set(grant.scope.split(' '));
    const recordScope = record.scope.split(' ').every((s) => holds.has(s)) ? record.scope : record.scope.split(' ').filter((s) => holds.has(s)).join(' ');
    if (recordScope === '') throw invalidGrant('the authorization no longer holds any of this refresh token\'s scope');
    let scope = recordScope;
    if (params.scope !== undefined) {
      const granted = new Set(recordScope.split(' '));
      const requested = params.scope.split(' ').filter(Boolean);
      if (requested.length === 0 || !requested.every((s) => granted.has(s))) throw new OAuthError('invalid_scope', 'scope exceeds the original grant');
      scope = [...new Set(requested)].join(' ');
    }

    const rotation = ctx.profile.refreshTokenRotation;
    // A narrowed request narrows the access token only; a rotated refresh token keeps the original scope.
    const response = await tokenResponse(ctx, { grant, client, scope, refreshScope: recordScope, certificateThumbprint, dpopJkt, withRefreshToken: rotation.enabled });
    const rotated = rotation.enabled && response.refresh_token !== undefined;
    await Promise.all([
      rotated && record.rotatedAt === undefined ? retireRotated(ctx, token, record, rotation.graceSeconds) : undefined,
      // The new refresh token may outlive what the grant was kept for: keep the grant as long (up to its maximum).
      ctx.grants.refreshed(grant, rotated),
    ]);
    return response;
  },
};

/** The grace period runs from the first rotation: using the old token during it does not extend it. */
async function retireRotated(ctx: GatewayContext, token: string, record: RefreshTokenRecord, graceSeconds: number): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const remaining = record.expiresAt === undefined ? graceSeconds : Math.min(graceSeconds, record.expiresAt - now);
  if (remaining > 0) await ctx.store.set('refresh', storageKey(token), { ...record, rotatedAt: now }, remaining);
  else await ctx.store.delete('refresh', storageKey(token));
}
