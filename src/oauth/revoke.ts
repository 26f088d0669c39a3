import type { FastifyInstance } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { storageKey } from '../tokens/secrets.js';
import { findRequestedToken } from './token-lookup.js';
import { listenerEndpointUrl } from '../dpop/htu.js';

/**
 * Token revocation (RFC 7009). Revoking a refresh token ends its grant, and with it every access
 * token issued from it (§2.1). An unknown or foreign token gets the same 200 as a revoked one.
 */
export function revokeRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.revocation, async (request, reply) => {
    const { token, found } = await findRequestedToken(ctx, request, listenerEndpointUrl(request, PATHS.revocation, ctx.urls.revocation));
    ctx.metrics?.revocations.inc({ token_type: found?.type ?? 'unknown' });
    if (found?.type === 'refresh_token') {
      await Promise.all([ctx.grants.end(found.record.grantId), ctx.store.delete('refresh', storageKey(token))]);
      request.log.info({ audit: 'token_revoked', client_id: request.clientId, grant_id: found.record.grantId, token_type: found.type }, 'token_revoked');
      request.log.info({ audit: 'grant_ended', client_id: request.clientId, grant_id: found.record.grantId, reason: 'refresh_token_revoked' }, 'grant_ended');
    } else if (found?.type === 'access_token') {
      const ttl = found.claims.exp - Math.floor(Date.now() / 1000);
      if (ttl > 0) await ctx.store.set('revoked-at', found.claims.jti, 1, ttl);
      request.log.info({ audit: 'token_revoked', client_id: request.clientId, token_type: found.type }, 'token_revoked');
    }
    return reply.headers(NO_STORE).send();
  });
  methodNotAllowed(app, PATHS.revocation, ['POST']);
}
