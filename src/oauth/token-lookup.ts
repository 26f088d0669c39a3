import type { FastifyRequest } from 'fastify';
import { authenticateClient } from '../clients/authenticate.js';
import type { GatewayContext } from '../context.js';
import { formParams } from '../http/form-body.js';
import { invalidRequest } from './errors.js';
import { StoreUnavailableError } from '../store/store.js';
import type { Grant } from '../grants/grant.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import { verifyAccessToken } from '../tokens/guard.js';
import { findRefreshToken, type RefreshTokenRecord } from '../tokens/refresh-token.js';

export type FoundToken =
  | { type: 'access_token'; claims: AccessTokenClaims; grant?: undefined }
  | { type: 'refresh_token'; record: RefreshTokenRecord; grant: Grant };

/**
 * The common start of introspection and revocation: the client authenticates, names a token, and
 * learns only about it if it is one of its own.
 */
export async function findRequestedToken(ctx: GatewayContext, request: FastifyRequest, endpointUrl: string): Promise<{ token: string; found: FoundToken | undefined }> {
  const params = formParams(request);
  const { client } = await authenticateClient(request, params, endpointUrl, ctx);
  if (params.token === undefined) throw invalidRequest('token is required');
  return { token: params.token, found: await findOwnToken(ctx, params.token, client.id, params.token_type_hint) };
}

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
