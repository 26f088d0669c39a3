import { AsyncResource } from 'node:async_hooks';
import { Pool, type Dispatcher } from 'undici';

/** The route's connections are all busy and its pending queue is full: refused at once (503). */
export class UpstreamOverflowError extends Error {
  readonly code = 'UPSTREAM_OVERFLOW';
  constructor() {
    super('the upstream connection pool and its queue are full');
  }
}

/** The route's time ran out, whether the call was queued, waiting for headers or streaming its body (504). */
export class UpstreamDeadlineError extends Error {
  readonly code = 'UPSTREAM_DEADLINE_TIMEOUT';
  constructor() {
    super('the route timeout passed before the upstream exchange ended');
  }
}

/** The client left: its place in the queue, or its exchange, is given up. */
export class ClientGoneError extends Error {
  readonly code = 'CLIENT_GONE';
  constructor() {
    super('the client closed the connection');
  }
}

/**
 * An AbortSignal put on the request headers under this key aborts the call, or its wait, when the
 * client leaves. @fastify/reply-from copies the headers with Object.assign, symbol keys included, and
 * a symbol never becomes an HTTP header; the pool takes it off before undici sees the headers.
 */
export const CLIENT_GONE = Symbol('aborted when the client leaves');

export interface UpstreamPoolOptions {
  maxConnections: number;
  maxPending: number;
  timeoutMs: number;
}

type RequestCallback = (err: Error | null, data?: Dispatcher.ResponseData) => void;
interface Waiting {
  start: () => void;
  fail: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One route's upstream connections, bounded as Envoy's circuit breakers bound a cluster: at most
 * `maxConnections` exchanges at a time, at most `maxPending` waiting for one, anything past that
 * refused immediately. The route's time budget covers the whole exchange, queueing included: the
 * caller passes what is left of it as `headersTimeout` (as @fastify/reply-from does with its `timeout`
 * option), and the exchange is aborted when it runs out, even mid-body.
 *
 * It is handed to @fastify/reply-from as its undici instance; only `request` is called.
 */
export class UpstreamPool {
  readonly #pool: Pool;
  readonly #options: UpstreamPoolOptions;
  #active = 0;
  readonly #waiting: Waiting[] = [];

  constructor(origin: string, options: UpstreamPoolOptions) {
    this.#options = options;
    // Undici never queues for long: we admit no more exchanges than it has connections.
    this.#pool = new Pool(origin, { connections: options.maxConnections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  /** A call now would be refused: checked first so that overload costs no more than a 503. */
  get saturated(): boolean {
    return this.#active >= this.#options.maxConnections && this.#waiting.length >= this.#options.maxPending;
  }

  request(options: Dispatcher.RequestOptions, callback: RequestCallback): void {
    const headers = options.headers as Record<string | symbol, unknown> | undefined;
    const clientGone = headers?.[CLIENT_GONE] as AbortSignal | undefined;
    if (headers) delete headers[CLIENT_GONE];
    if (clientGone?.aborted) return callback(new ClientGoneError());
    const budget = Math.min(options.headersTimeout ?? this.#options.timeoutMs, this.#options.timeoutMs);
    const deadline = performance.now() + budget;
    const start = () => this.#start(options, deadline, clientGone, callback);
    if (this.#active < this.#options.maxConnections) return start();
    if (this.#waiting.length >= this.#options.maxPending) return callback(new UpstreamOverflowError());
    const leave = (err: Error) => {
      const at = this.#waiting.indexOf(waiting);
      if (at < 0) return;
      this.#waiting.splice(at, 1);
      clearTimeout(waiting.timer);
      clientGone?.removeEventListener('abort', onGone);
      callback(err);
    };
    const onGone = () => leave(new ClientGoneError());
    const waiting: Waiting = {
      // Started from another exchange's end: in this request's async context (its trace), not that one's.
      start: AsyncResource.bind(() => {
        clientGone?.removeEventListener('abort', onGone);
        start();
      }),
      fail: leave,
      timer: setTimeout(() => leave(new UpstreamDeadlineError()), budget),
    };
    clientGone?.addEventListener('abort', onGone, { once: true });
    this.#waiting.push(waiting);
  }

  #start(options: Dispatcher.RequestOptions, deadline: number, clientGone: AbortSignal | undefined, callback: RequestCallback): void {
    const remaining = Math.max(1, Math.ceil(deadline - performance.now()));
    this.#active++;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new UpstreamDeadlineError()), remaining);
    const onGone = () => abort.abort(new ClientGoneError());
    clientGone?.addEventListener('abort', onGone, { once: true });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      clientGone?.removeEventListener('abort', onGone);
      this.#active--;
      const next = this.#waiting.shift();
      if (next) {
        clearTimeout(next.timer);
        next.start();
      }
    };
    // The deadline is our timer: undici's own timeouts tick coarsely (they can fire half a second early)
    // and only back it up.
    const backstop = remaining + 1000;
    this.#pool.request({ ...options, headersTimeout: backstop, bodyTimeout: backstop, signal: abort.signal }, (err, data) => {
      if (err) {
        release();
        return callback(err);
      }
      // The connection is free again once the body has been read to its end or thrown away.
      data.body.once('close', release);
      callback(null, data);
    });
  }

  async destroy(): Promise<void> {
    for (const waiting of [...this.#waiting]) waiting.fail(Object.assign(new Error('the gateway is shutting down'), { code: 'UPSTREAM_CLOSED' }));
    await this.#pool.destroy();
  }
}
