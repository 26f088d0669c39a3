import type { FastifyInstance } from 'fastify';
import { openMetricsContentType, Registry, type OpenMetricsContentType } from 'prom-client';
import type { Metrics } from './metrics.js';

/** GET /metrics: Prometheus text format, or OpenMetrics when the scraper asks for it. */
export function metricsRoute(app: FastifyInstance, metrics: Metrics): void {
  // The same metric objects behind a second registry that renders OpenMetrics.
  const openMetrics = Registry.merge([metrics.registry]) as unknown as Registry<OpenMetricsContentType>;
  openMetrics.setContentType(openMetricsContentType);
  app.get('/metrics', async (request, reply) => {
    const registry = /application\/openmetrics-text/.test(request.headers.accept ?? '') ? openMetrics : metrics.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
