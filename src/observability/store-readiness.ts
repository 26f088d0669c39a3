import { StoreUnavailableError, type Store, type StoreProblemCause } from '../store/store.js';

/**
 * How long readiness waits for the store's answer: well inside a probe's default 1 s timeout, so a
 * hanging store makes the probe fail with a reason rather than time out without one.
 */
export const READINESS_PING_TIMEOUT_MS = 500;

/** Undefined when the store answers in time; otherwise why not (e.g. "authentication failed"). */
export async function storeReadiness(store: Store, timeoutMs = READINESS_PING_TIMEOUT_MS): Promise<StoreProblemCause | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  // The ping left behind fails by itself after the client's command timeout.
  const pinged = store.ping().then(
    () => undefined,
    (err: unknown) => (err instanceof StoreUnavailableError ? err.reason : 'unreachable'),
  );
  try {
    const outcome = await Promise.race([pinged, late]);
    return outcome === 'late' ? 'not responding' : outcome;
  } finally {
    clearTimeout(timer);
  }
}
