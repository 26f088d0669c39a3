import type { FastifyServerOptions } from 'fastify';
import { pino } from 'pino';

export type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Fields that carry secrets; pino replaces them wherever a log line includes them. Request bodies
 * are never logged at all; these paths are the second line of defence.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["ssl-client-cert"]',
  'req.headers["x-forwarded-client-cert"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'body',
  'req.body',
  // Top-level names only: wildcard paths cost tens of microseconds on every line, and no log call
  // passes an object that nests these.
  'client_assertion',
  'code',
  'code_verifier',
  'refresh_token',
  'access_token',
  'id_token',
  'password',
  'token',
  'client_secret',
];

/** The longest a line waits in the buffer: a quiet gateway still shows its log lines (and audit events) promptly. */
const MAX_LOG_DELAY_MS = 1_000;

/**
 * Where the JSON lines go: stdout through a buffered, asynchronous writer, so a request does not
 * pay a write system call for its log line. The buffer is written out when it fills, every second,
 * and (`flushSync`) at shutdown, so no line is lost or held back.
 */
export function logDestination(): SonicBoom {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const timer = setInterval(() => {
    try {
      destination.flush();
    } catch {
      clearInterval(timer); // destroyed: nothing more will be written
    }
  }, MAX_LOG_DELAY_MS);
  timer.unref();
  destination.once('close', () => clearInterval(timer));
  return destination;
}

/** Writes out what the buffered destination still holds (at shutdown). */
export function flushLogs(destination: SonicBoom | undefined): void {
  try {
    destination?.flushSync();
  } catch {
    // Not open yet: nothing was written.
  }
}

export function loggerOptions(
  level: string,
  pretty: boolean,
  override: unknown,
  destination: SonicBoom | undefined,
): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (override !== undefined && override !== null && typeof override === 'object' && 'info' in override)
    return { loggerInstance: override as FastifyServerOptions['loggerInstance'] };
  const redact = { paths: REDACTED_PATHS, censor: '[redacted]' };
  if (override !== undefined) return { logger: { redact, ...(override as object) } };
  if (pretty) return { logger: { level, redact, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } } };
  return { logger: { level, redact, ...(destination ? { stream: destination } : {}) } };
}
