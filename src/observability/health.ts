import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import { storeReadiness } from './store-readiness.js';

/** Liveness and readiness for the orchestrator; both cheap. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext, state: { shuttingDown: () => boolean; shedding: () => boolean }): void {
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // First, and without asking the store: a load balancer must stop sending new work at once.
    if (state.shuttingDown()) return reply.code(503).send({ status: 'shutting down' });
    // Answers within the probe's default 1 s timeout even when the store hangs, naming why it is not ready.
    const storeProblem = await storeReadiness(ctx.store);
    if (storeProblem !== undefined) return reply.code(503).send({ status: 'not ready', store: storeProblem });
    // Not ready while shedding load, so the orchestrator sends traffic elsewhere.
    if (state.shedding()) return reply.code(503).send({ status: 'not ready', load: 'shedding' });
    // Costly work (logins) is being refused: new sessions are better sent to another replica.
    const saturated = ctx.admission.saturated();
    if (saturated.length === 0) return reply.send({ status: 'ready' });
    if (ctx.config.admission.notReadyWhenSaturated) return reply.code(503).send({ status: 'not ready', saturated });
    return reply.send({ status: 'ready', saturated });
  });
}
