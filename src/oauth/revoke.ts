import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../clients/authenticate.js';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { formParams } from '../http/form-body.js';
import { storageKey } from '../tokens/secrets.js';
import { invalidRequest } from './errors.js';
import { findOwnToken } from './token-lookup.js';

/**
 * Token revocation (RFC 7009). Revoking a refresh token ends its grant, and with it every access
 * token issued from it (§2.1). An unknown or foreign token gets the same 200 as a revoked one.
 */
export function revokeRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.revocation, async (request, reply) => {
    const params = formParams(request);
    const { client } = await authenticateClient(request, params, ctx.urls.revocation, ctx);
    if (params.token === undefined) throw invalidRequest('token is required');
    const found = await findOwnToken(ctx, params.token, client.id, params.token_type_hint);
    ctx.metrics?.revocations.inc({ token_type: found?.type ?? 'unknown' });
    if (found?.type === 'refresh_token') {
      await ctx.grants.end(found.record.grantId);
      await ctx.store.delete('refresh', storageKey(params.token));
    } else if (found?.type === 'access_token') {
      const ttl = found.claims.exp - Math.floor(Date.now() / 1000);
      if (ttl > 0) await ctx.store.set('revoked-at', found.claims.jti, 1, ttl);
    }
    return reply.headers(NO_STORE).send();
  });
  methodNotAllowed(app, PATHS.revocation, ['POST']);
}
