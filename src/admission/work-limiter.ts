/**
 * Costly work (password hashing, and whatever later needs the same care) is admitted within bounds:
 * at most `concurrency` pieces run at once, at most `queue` wait for a slot, and anything past that
 * is refused at once with WorkRefused, which the HTTP layer answers with 503 and Retry-After. So an
 * overload costs the refused request nothing, and the work that does run finishes in bounded time
 * instead of queueing in the shared libuv pool behind everything else.
 */
export interface WorkLimits {
  concurrency: number;
  queue: number;
  retryAfterSeconds: number;
}

/** Refused because the limiter's slots and queue are full; the client may retry after `retryAfterSeconds`. */
export class WorkRefused extends Error {
  override readonly name = 'WorkRefused';

  constructor(
    readonly work: string,
    readonly retryAfterSeconds: number,
  ) {
    // Refusing must cost next to nothing during a flood: no stack trace (it is never logged).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${work}: at capacity`);
    Error.stackTraceLimit = limit;
  }
}

/** Told about every change, for metrics. */
export interface WorkObserver {
  changed?(limiter: WorkLimiter): void;
  refused?(limiter: WorkLimiter): void;
}

export class WorkLimiter {
  #running = 0;
  // Short by construction (bounded by `queue`), so an array is fine.
  readonly #waiting: (() => void)[] = [];
  #lastRefusal = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly limits: WorkLimits,
    private readonly observer: WorkObserver = {},
  ) {}

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * True while the next piece of work would be refused, and for `retryAfterSeconds` after a refusal:
   * the refused clients come back then, so readiness stays down while they would be refused again.
   */
  get saturated(): boolean {
    return this.#full() || performance.now() - this.#lastRefusal < this.limits.retryAfterSeconds * 1000;
  }

  /** Runs `work` when a slot is free; throws WorkRefused at once when the slots and the queue are full. */
  async run<T>(work: () => Promise<T> | T): Promise<T> {
    if (this.#running < this.limits.concurrency) this.#running++;
    else if (this.#full()) {
      this.#lastRefusal = performance.now();
      this.observer.refused?.(this);
      throw new WorkRefused(this.name, this.limits.retryAfterSeconds);
    } else {
      const slot = new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.observer.changed?.(this);
      // A finishing piece of work hands its slot over: `running` does not change.
      await slot;
    }
    this.observer.changed?.(this);
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
      this.observer.changed?.(this);
    }
  }

  #full(): boolean {
    return this.#running >= this.limits.concurrency && this.#waiting.length >= this.limits.queue;
  }
}
