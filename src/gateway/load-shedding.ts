import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { ConfigFile } from '../config/schema.js';
import { sendOAuthError } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';

/** Sheds load with 503 + Retry-After while the event loop, heap or RSS is past its threshold. */
export async function loadShedding(app: FastifyInstance, settings: ConfigFile['loadShedding'], onShed?: () => void): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: settings.maxEventLoopDelayMs,
    maxHeapUsedBytes: settings.maxHeapUsedBytes,
    maxRssBytes: settings.maxRssBytes,
    sampleInterval: settings.sampleIntervalMs,
    retryAfter: settings.retryAfterSeconds,
    pressureHandler: (_request, reply) => {
      onShed?.();
      const retryAfter = String(settings.retryAfterSeconds);
      sendOAuthError(reply, new OAuthError('temporarily_unavailable', 'the server is overloaded; retry later', 503, { 'retry-after': retryAfter }));
    },
  });
}
