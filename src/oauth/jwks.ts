import type { FastifyInstance } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';

/** The server's public signing keys (never a private member: the document is derived from public keys). */
export function jwksRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.get(PATHS.jwks, (_request, reply) =>
    reply.type('application/json').header('cache-control', 'public, max-age=300').send(ctx.keys.publicJwksJson),
  );
}
