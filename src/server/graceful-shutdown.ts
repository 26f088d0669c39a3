import type { FastifyBaseLogger } from 'fastify';
import type { ListenerDrain } from './listener-drain.js';

export interface GatewayParts {
  /** The listeners clients use; drained first. */
  traffic: ListenerDrain[];
  /** The ops listener: /readyz keeps answering 503 until the others are done. */
  ops: ListenerDrain;
  closeStore(): Promise<void>;
  /** Writes out the buffered log lines, until the deadline at most. */
  flushLogs(deadline: number): Promise<void>;
  log: FastifyBaseLogger;
}

/**
 * The whole stop within `graceMs` (readiness must already be off): drain the listeners, close the
 * store, log the outcome and write out the log lines. True unless a request was still open at the end.
 */
export async function stopGateway(parts: GatewayParts, graceMs: number, readinessDelayMs: number): Promise<boolean> {
  const end = Date.now() + graceMs;
  // The last moments of the grace are for the store and the log lines.
  const deadline = end - Math.min(1_000, graceMs / 10);
  const served = await drainListeners(parts.traffic, { deadline, readinessDelayMs }, parts.log);
  const opsDone = await drainListeners([parts.ops], { deadline, readinessDelayMs: 0 }, parts.log);
  await untilDeadline(parts.closeStore().catch(() => undefined), deadline);
  const drained = served && opsDone;
  if (drained) parts.log.info('stopped');
  else parts.log.warn('stopped after the grace period with requests still open');
  // Ends a little before the grace: exiting takes a moment too.
  await parts.flushLogs(end - Math.min(250, graceMs / 40));
  return drained;
}

export interface ShutdownPlan {
  /** When everything must be over; connections still open then are cut. */
  deadline: number;
  /** How long the listeners keep serving after readiness turned off (load balancers notice late). */
  readinessDelayMs: number;
}

/**
 * Drains listeners in order: readiness is already off; keep serving (every response saying
 * `Connection: close`) for the readiness delay, stop accepting, wait for the requests in flight and
 * cut whatever is left at the deadline. Resolves true unless a request was still being answered
 * then; a connection that never sent one does not count.
 */
export async function drainListeners(drains: ListenerDrain[], plan: ShutdownPlan, log: FastifyBaseLogger): Promise<boolean> {
  for (const drain of drains) drain.beginShutdown();
  const delay = Math.min(plan.readinessDelayMs, plan.deadline - Date.now());
  if (delay > 0) {
    log.info({ readinessDelayMs: delay }, 'shutting down: readiness off, still serving until load balancers notice');
    await sleep(delay);
  }
  for (const drain of drains) drain.stopAccepting();
  const open = drains.reduce((n, d) => n + d.inFlight, 0);
  log.info({ requestsInFlight: open }, 'shutting down: listeners closed, draining the requests in flight');
  const idle = Promise.all(drains.map((d) => d.idle())).then(() => true as const);
  if (await untilDeadline(idle, plan.deadline)) return true;
  const left = drains.reduce((n, d) => n + d.inFlight, 0);
  await untilDeadline(Promise.all(drains.map((d) => d.cut())), plan.deadline + 100);
  return left === 0;
}

/** The promise's value, or undefined once the deadline passed. */
export async function untilDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
