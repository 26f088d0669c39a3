import type { FastifyInstance } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';

/** How long clients may cache the JWKS: a new key is published at least this long before it signs. */
export const JWKS_MAX_AGE_SECONDS = 300;

/** The server's public signing (and encryption) keys (never a private member: the document is derived from public keys). */
export function jwksRoute(app: FastifyInstance, ctx: GatewayContext): void {
  // The encryption keys (use: enc), when loaded, are published next to the signing keys.
  const encryption = ctx.encryptionKeys?.publicJwks ?? [];
  // Built again only when a reload changed the signing keys.
  let builtFrom: string | undefined;
  let body = '';
  app.get(PATHS.jwks, (_request, reply) => {
    const signing = ctx.keys.publicJwksJson;
    if (signing !== builtFrom) {
      body = encryption.length ? JSON.stringify({ keys: [...JSON.parse(signing).keys, ...encryption] }) : signing;
      builtFrom = signing;
    }
    return reply.type('application/json').header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`).send(body);
  });
}
