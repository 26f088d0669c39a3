import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import { storeReadiness } from './store-readiness.js';

/** Liveness and readiness for the orchestrator; both cheap. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext, shedding: () => boolean): void {
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // Answers within the probe's default 1 s timeout even when the store hangs, naming why it is not ready.
    const storeProblem = await storeReadiness(ctx.store);
    if (storeProblem !== undefined) return reply.code(503).send({ status: 'not ready', store: storeProblem });
    // Not ready while shedding load, so the orchestrator sends traffic elsewhere.
    if (shedding()) return reply.code(503).send({ status: 'not ready', load: 'shedding' });
    return reply.send({ status: 'ready' });
  });
}
