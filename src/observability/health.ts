import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';

/** Liveness and readiness for the orchestrator; both cheap. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext, shedding: () => boolean): void {
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await ctx.store.ping();
    } catch {
      return reply.code(503).send({ status: 'not ready', store: 'unreachable' });
    }
    // Not ready while shedding load, so the orchestrator sends traffic elsewhere.
    if (shedding()) return reply.code(503).send({ status: 'not ready', load: 'shedding' });
    // Costly work (logins) is being refused: new sessions are better sent to another replica.
    const saturated = ctx.admission.saturated();
    if (saturated.length > 0) return reply.code(503).send({ status: 'not ready', saturated });
    return reply.send({ status: 'ready' });
  });
}
