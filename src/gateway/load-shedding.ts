import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { getHeapStatistics } from 'node:v8';
import type { ConfigFile } from '../config/schema.js';
import { sendOAuthError } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';

/**
 * Memory thresholds when the config sets none: shedding starts well before V8 would abort the
 * process for want of heap (and with the memory store, lose every code, grant and token). 0 is off.
 */
export function memoryThresholds(settings: Pick<ConfigFile['loadShedding'], 'maxHeapUsedBytes' | 'maxRssBytes'>): { maxHeapUsedBytes: number; maxRssBytes: number } {
  const heapLimit = getHeapStatistics().heap_size_limit;
  return {
    maxHeapUsedBytes: settings.maxHeapUsedBytes ?? Math.floor(heapLimit * 0.85),
    maxRssBytes: settings.maxRssBytes ?? Math.floor(heapLimit * 1.5),
  };
}

/** Sheds load with 503 + Retry-After while the event loop, heap or RSS is past its threshold. */
export async function loadShedding(app: FastifyInstance, settings: ConfigFile['loadShedding'], onShed?: () => void): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: settings.maxEventLoopDelayMs,
    ...memoryThresholds(settings),
    sampleInterval: settings.sampleIntervalMs,
    retryAfter: settings.retryAfterSeconds,
    pressureHandler: (_request, reply) => {
      onShed?.();
      const retryAfter = String(settings.retryAfterSeconds);
      sendOAuthError(reply, new OAuthError('temporarily_unavailable', 'the server is overloaded; retry later', 503, { 'retry-after': retryAfter }));
    },
  });
}
