import type { FastifyInstance } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';

/** The server's public signing (and encryption) keys (never a private member: the document is derived from public keys). */
export function jwksRoute(app: FastifyInstance, ctx: GatewayContext): void {
  // The encryption keys (use: enc), when loaded, are published next to the signing keys.
  const encryption = ctx.encryptionKeys?.publicJwks ?? [];
  const body = encryption.length ? JSON.stringify({ keys: [...JSON.parse(ctx.keys.publicJwksJson).keys, ...encryption] }) : ctx.keys.publicJwksJson;
  app.get(PATHS.jwks, (_request, reply) => reply.type('application/json').header('cache-control', 'public, max-age=300').send(body));
}
