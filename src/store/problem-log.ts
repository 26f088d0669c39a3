import type { StoreProblem, StoreProblemCause } from './store.js';

interface ErrorLog {
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Logs store connection problems at error level, naming their cause, at most once per `everyMs`
 * for each cause (a Redis that is down fails every reconnect and every command; one line says it).
 * A line after a quiet spell counts the occurrences it stands for.
 */
export function storeProblemLogger(log: ErrorLog, everyMs = 10_000): (problem: StoreProblem) => void {
  // One entry per cause: a handful of keys at most.
  const seen = new Map<StoreProblemCause, { loggedAt: number; unlogged: number }>();
  return ({ cause, detail }) => {
    const now = Date.now();
    const entry = seen.get(cause);
    if (entry && now - entry.loggedAt < everyMs) {
      entry.unlogged++;
      return;
    }
    const repeated = entry?.unlogged ?? 0;
    seen.set(cause, { loggedAt: now, unlogged: 0 });
    log.error({ store: 'redis', cause, detail, ...(repeated ? { repeatedSinceLastLine: repeated } : {}) }, `state store: ${cause} (${detail})`);
  };
}
