import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../clients/authenticate.js';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { formParams } from '../http/form-body.js';
import { invalidRequest } from './errors.js';
import { findOwnToken } from './token-lookup.js';

/** Token introspection (RFC 7662): a client learns only about its own tokens. */
export function introspectRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.introspection, async (request, reply) => {
    const params = formParams(request);
    const { client } = await authenticateClient(request, params, ctx.urls.introspection, ctx);
    if (params.token === undefined) throw invalidRequest('token is required');
    const found = await findOwnToken(ctx, params.token, client.id, params.token_type_hint);
    reply.headers(NO_STORE);
    ctx.metrics?.introspections.inc({ active: found ? 'true' : 'false' });
    if (!found) return reply.send({ active: false });
    if (found.type === 'access_token') {
      const { claims } = found;
      const grant = await ctx.grants.get(claims.grant_id);
      return reply.send({
        active: true,
        token_type: 'Bearer',
        scope: claims.scope,
        client_id: claims.client_id,
        sub: claims.sub,
        iss: claims.iss,
        aud: claims.aud,
        exp: claims.exp,
        iat: claims.iat,
        cnf: claims.cnf,
        ...ctx.hooks.introspectionFields?.(grant, 'access_token'),
      });
    }
    const { record, grant } = found;
    return reply.send({
      active: true,
      token_type: 'refresh_token',
      scope: record.scope,
      client_id: record.clientId,
      sub: grant.sub,
      iss: ctx.urls.issuer,
      iat: record.issuedAt,
      ...(record.expiresAt !== undefined ? { exp: record.expiresAt } : {}),
      ...ctx.hooks.introspectionFields?.(grant, 'refresh_token'),
    });
  });
  methodNotAllowed(app, PATHS.introspection, ['POST']);
}
