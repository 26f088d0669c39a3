import type { GatewayContext } from '../context.js';
import { StoreUnavailableError } from '../store/store.js';
import type { Grant } from '../grants/grant.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import { verifyAccessToken } from '../tokens/guard.js';
import { findRefreshToken, type RefreshTokenRecord } from '../tokens/refresh-token.js';

export type FoundToken =
  | { type: 'access_token'; claims: AccessTokenClaims; grant?: undefined }
  | { type: 'refresh_token'; record: RefreshTokenRecord; grant: Grant };

/**
 * Finds a live token for introspection and revocation. Only the caller's own tokens are found: to any
 * other client a token of someone else looks the same as an unknown one.
 */
export async function findOwnToken(ctx: GatewayContext, token: string, clientId: string, hint: string | undefined): Promise<FoundToken | undefined> {
  const order = hint === 'refresh_token' ? [refresh, access] : [access, refresh];
  for (const find of order) {
    const found = await find(ctx, token, clientId);
    if (found) return found;
  }
  return undefined;
}

async function access(ctx: GatewayContext, token: string, clientId: string): Promise<FoundToken | undefined> {
  if (token.split('.').length !== 3) return undefined;
  try {
    const claims = await verifyAccessToken(ctx, token);
    return claims.client_id === clientId ? { type: 'access_token', claims } : undefined;
  } catch (err) {
    // An unreachable store is not an invalid token: answering "inactive" or "revoked" would be a lie.
    if (err instanceof StoreUnavailableError) throw err;
    return undefined;
  }
}

async function refresh(ctx: GatewayContext, token: string, clientId: string): Promise<FoundToken | undefined> {
  const record = await findRefreshToken(ctx, token);
  if (!record || record.clientId !== clientId) return undefined;
  const grant = await ctx.grants.get(record.grantId);
  return grant ? { type: 'refresh_token', record, grant } : undefined;
}
