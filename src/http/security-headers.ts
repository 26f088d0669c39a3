import type { FastifyInstance } from 'fastify';

/** One year, the value HSTS preload lists ask for. */
export const HSTS_MAX_AGE_SECONDS = 31_536_000;

/**
 * Headers every response of a TLS listener carries, errors, pages and proxied answers included:
 * HSTS (RFC 6797), so a browser that once reached the gateway never tries it over plain HTTP; and
 * `nosniff`, so no browser reads a JSON or text answer as script or HTML. Set in onSend, which runs
 * for every reply however it was produced; an upstream's own value is left alone.
 */
export function installSecurityHeaders(app: FastifyInstance, hstsMaxAgeSeconds = HSTS_MAX_AGE_SECONDS): void {
  const hsts = `max-age=${hstsMaxAgeSeconds}`;
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('strict-transport-security')) reply.header('strict-transport-security', hsts);
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
}
