import { availableParallelism } from 'node:os';
import type { ConfigFile } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import { WorkLimiter, type WorkLimits, type WorkObserver } from './work-limiter.js';

type AdmissionConfig = ConfigFile['admission'];

/** libuv's pool size: what UV_THREADPOOL_SIZE says when the process started, 4 otherwise. */
function threadPoolSize(): number {
  const configured = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(configured) && configured > 0 ? Math.min(configured, 1024) : 4;
}

/**
 * Password hashing (scrypt) runs in libuv's pool, as does JWT signing and verification (WebCrypto),
 * and each hash keeps a core busy. So: one hash per core but one, leaving a core to the event loop
 * (TLS, token signing), and never so many that fewer than two pool threads stay free for signing:
 * 1 on 2 cores, at most 2 with the default pool of 4. (On 2 cores, 2 at a time let a fifth more
 * logins through and made the token endpoint about three times slower: docs/operations.md.)
 */
export function passwordHashingLimits(config: AdmissionConfig['passwordHashing']): WorkLimits {
  const concurrency = config.concurrency ?? Math.max(1, Math.min(availableParallelism() - 1, threadPoolSize() - 2));
  return { concurrency, queue: config.queue ?? 4 * concurrency, retryAfterSeconds: config.retryAfterSeconds };
}

/** The process's limiters for costly work, by name; `/readyz` reports the saturated ones. */
export class Admission {
  readonly passwordHashing: WorkLimiter;

  constructor(config: AdmissionConfig, metrics?: Metrics) {
    const observer: WorkObserver = metrics
      ? {
          changed: (l) => {
            metrics.admissionRunning.set({ work: l.name }, l.running);
            metrics.admissionQueued.set({ work: l.name }, l.queued);
          },
          refused: (l) => metrics.admissionRefused.inc({ work: l.name }),
        }
      : {};
    this.passwordHashing = new WorkLimiter('password_hashing', passwordHashingLimits(config.passwordHashing), observer);
    for (const limiter of this.limiters()) observer.changed?.(limiter);
  }

  limiters(): WorkLimiter[] {
    return [this.passwordHashing];
  }

  /** The names of the limiters that refuse work now (or did within their Retry-After). */
  saturated(): string[] {
    return this.limiters()
      .filter((l) => l.saturated)
      .map((l) => l.name);
  }
}
