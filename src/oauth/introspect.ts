import type { FastifyInstance } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { findRequestedToken } from './token-lookup.js';
import { listenerEndpointUrl } from '../dpop/htu.js';

/** Token introspection (RFC 7662): a client learns only about its own tokens. */
export function introspectRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.introspection, async (request, reply) => {
    const { found } = await findRequestedToken(ctx, request, listenerEndpointUrl(request, PATHS.introspection, ctx.urls.introspection));
    reply.headers(NO_STORE);
    // A profile may report on some token types only: the others look like unknown tokens.
    const reported = found && (ctx.profile.introspection?.tokenTypes.includes(found.type) ?? true) ? found : undefined;
    ctx.metrics?.introspections.inc({ active: reported ? 'true' : 'false' });
    if (!reported) return reply.send({ active: false });
    const client = await ctx.clients.get(reported.type === 'access_token' ? reported.claims.client_id : reported.record.clientId);
    if (reported.type === 'access_token') {
      const { claims } = reported;
      // The grant is read only for an ecosystem that adds fields from it.
      const grant = ctx.hooks.introspectionFields ? await ctx.grants.get(claims.grant_id) : undefined;
      return reply.send({
        active: true,
        token_type: claims.cnf.jkt !== undefined ? 'DPoP' : 'Bearer',
        scope: claims.scope,
        client_id: claims.client_id,
        // Already the subject this client is told (pairwise where it applies).
        sub: claims.sub,
        iss: claims.iss,
        aud: claims.aud,
        exp: claims.exp,
        iat: claims.iat,
        cnf: claims.cnf,
        ...ctx.hooks.introspectionFields?.(grant, 'access_token'),
      });
    }
    const { record, grant } = reported;
    return reply.send({
      active: true,
      token_type: 'refresh_token',
      scope: record.scope,
      client_id: record.clientId,
      sub: ctx.subjects.forClient(client, grant.sub),
      iss: ctx.urls.issuer,
      iat: record.issuedAt,
      ...(record.expiresAt !== undefined ? { exp: record.expiresAt } : {}),
      ...ctx.hooks.introspectionFields?.(grant, 'refresh_token'),
    });
  });
  methodNotAllowed(app, PATHS.introspection, ['POST']);
}
