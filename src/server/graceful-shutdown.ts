import type { FastifyBaseLogger } from 'fastify';
import type { ListenerDrain } from './listener-drain.js';

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
