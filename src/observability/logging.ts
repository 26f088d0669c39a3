import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import { pino } from 'pino';

export type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Fields that carry secrets; pino replaces them wherever a log line includes them. Request bodies
 * are never logged at all; these paths are the second line of defence.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.dpop',
  'req.headers["ssl-client-cert"]',
  'req.headers["x-forwarded-client-cert"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers.dpop',
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

/**
 * Whether `log` writes info lines, so that a line's fields are only gathered when it will be written
 * (the request line, audit events). A logger without pino's isLevelEnabled is taken to write them.
 */
export function logsInfo(log: FastifyBaseLogger): boolean {
  const enabled = (log as Partial<Pick<pino.Logger, 'isLevelEnabled'>>).isLevelEnabled;
  return enabled === undefined || enabled.call(log, 'info');
}

/** The longest a line waits in the buffer: a quiet gateway still shows its log lines (and audit events) promptly. */
const MAX_LOG_DELAY_MS = 1_000;

/** sonic-boom sets this once closed; its types do not declare it. */
const destroyed = (destination: SonicBoom) => (destination as unknown as { destroyed: boolean }).destroyed;

export interface LogDestinationOptions {
  /** Past this many bytes waiting for stdout, new lines are dropped (and counted) instead of held. */
  maxBufferBytes: number;
  /** Called for every dropped line (the metric). */
  onDrop?: () => void;
  /** stdout unless a test says otherwise. */
  fd?: number;
  /** A file to append to instead of a file descriptor (the audit file). */
  file?: string;
}

/**
 * Where the JSON lines go: stdout through a buffered, asynchronous writer, so a request does not
 * pay a write system call for its log line. The buffer is written out when it fills, every second,
 * and at shutdown. When stdout's reader stalls (a stuck log shipper), the buffer stops at
 * `maxBufferBytes` and further lines are dropped: memory stays bounded and requests never wait for
 * the log. The first line written once stdout drains again says how many were lost.
 */
export function logDestination({ maxBufferBytes, onDrop, fd = 1, file }: LogDestinationOptions): SonicBoom {
  // Opening process.stdout makes a pipe or socket on fd 1 non-blocking (libuv does): a write to a
  // stalled reader then fails with EAGAIN and is retried later, instead of blocking a thread pool
  // thread that process.exit would wait for forever.
  if (fd === 1 && file === undefined) void process.stdout;
  let exiting = false;
  const destination = pino.destination({
    ...(file === undefined ? { dest: fd } : { dest: file, append: true, mkdir: true }),
    sync: false,
    minLength: 4096,
    maxLength: maxBufferBytes,
    // A full pipe is retried later while the process runs, never while it exits.
    retryEAGAIN: () => !exiting,
  });
  // Whatever ends the process (normally flushLogs has run already): one non-blocking attempt to
  // write what is left, then the destination is closed so that pino's own exit hook, which retries
  // a full pipe synchronously and forever, has nothing to do.
  const onExit = () => {
    if (destroyed(destination)) return;
    exiting = true;
    try {
      destination.flushSync();
    } catch {
      // stdout is full: what is left is lost
    }
    destination.destroy();
  };
  process.prependListener('exit', onExit);
  destination.once('close', () => process.removeListener('exit', onExit));
  let dropped = 0;
  let noting = false;
  let noteLost = false;
  destination.on('drop', () => {
    if (noting) {
      noteLost = true;
      return;
    }
    dropped++;
    onDrop?.();
  });
  // Something reached stdout again: say what was lost, once the written bytes have left the buffer.
  destination.on('write', () => {
    if (dropped > 0) queueMicrotask(noteDropped);
  });
  const noteDropped = () => {
    if (dropped === 0 || destroyed(destination)) return;
    const count = dropped;
    dropped = 0;
    noting = true;
    noteLost = false;
    destination.write(`${JSON.stringify({ level: 'warn', time: new Date().toISOString(), pid: process.pid, droppedLines: count, msg: 'log lines dropped: stdout did not keep up' })}\n`);
    noting = false;
    if (noteLost) dropped += count; // still full: the next write tries again
  };
  // pino stops writing on EPIPE; any other write error loses the buffered lines, never the process.
  destination.on('error', () => undefined);
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

/** A final flush that has written nothing for this long gives up: the reader is not coming back in time. */
const FLUSH_STALL_MS = 2_000;

/**
 * Writes out what the buffered destination still holds (at shutdown), asynchronously, until
 * `deadline` at most or until stdout has taken nothing for FLUSH_STALL_MS: a stalled stdout never
 * keeps the process past its grace. What is left then is dropped, and the destination is closed so
 * that pino's exit hook does not retry it synchronously (forever, on a full pipe).
 */
export async function flushLogs(destination: SonicBoom | undefined, deadline: number): Promise<void> {
  if (!destination || destroyed(destination)) return;
  let progress = Date.now();
  const onWrite = () => (progress = Date.now());
  destination.on('write', onWrite);
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now >= deadline || now - progress >= FLUSH_STALL_MS) finish();
    }, Math.min(100, Math.max(1, deadline - Date.now())));
    const finish = () => {
      clearInterval(timer);
      resolve();
    };
    destination.once('close', finish);
    try {
      destination.end();
    } catch {
      finish();
    }
  });
  destination.off('write', onWrite);
  if (!destroyed(destination)) destination.destroy();
  // Lines logged after this point (there should be none) are dropped rather than thrown.
  destination.write = () => true;
}

/**
 * The line format: `"level":"info"` and an ISO 8601 time, for people and for log pipelines that do
 * not know pino's numbers. `routeAudit` (the audit stream) sees every serialized line before it is
 * written and takes out the audit events.
 */
export function loggerOptions(
  level: string,
  pretty: boolean,
  override: unknown,
  destination: SonicBoom | undefined,
  routeAudit?: (line: string) => string,
): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (override !== undefined && override !== null && typeof override === 'object' && 'info' in override)
    return { loggerInstance: override as FastifyServerOptions['loggerInstance'] };
  const format = {
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(routeAudit ? { hooks: { streamWrite: routeAudit } } : {}),
  };
  if (override !== undefined) return { logger: { ...format, ...(override as object) } };
  if (pretty) return { logger: { level, ...format, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } } };
  return { logger: { level, ...format, ...(destination ? { stream: destination } : {}) } };
}
