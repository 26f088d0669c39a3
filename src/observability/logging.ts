import type { FastifyServerOptions } from 'fastify';

/** Header and body fields that carry secrets; pino replaces them wherever a log line includes them. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export function loggerOptions(level: string, override: unknown): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (override !== undefined && override !== null && typeof override === 'object' && 'info' in override)
    return { loggerInstance: override as FastifyServerOptions['loggerInstance'] };
  if (override !== undefined) return { logger: override as FastifyServerOptions['logger'] };
  return { logger: { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } } };
}
