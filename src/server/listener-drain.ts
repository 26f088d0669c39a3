import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Follows one listener's connections and requests so that a shutdown can drain it: responses say
 * `Connection: close` once the shutdown began (clients then close the connection themselves), idle
 * keep-alive connections close when the listener stops accepting and every other one as its
 * response ends; the listener is drained when its last connection is gone, not at the end of the
 * grace. (A connection that has not sent a whole request yet lasts until the header timeout at most.)
 */
export class ListenerDrain {
  readonly #app: FastifyInstance;
  readonly #sockets = new Set<Socket>();
  readonly #inFlight = new Map<ServerResponse, Socket>();
  #shuttingDown = false;
  #closed: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;

  constructor(app: FastifyInstance) {
    this.#app = app;
    const server = app.server;
    // The raw TCP socket, for a TLS listener before its handshake: one that never completes is counted too.
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#checkIdle();
      });
    });
    // Before fastify's handler, so the header is set before any response can start.
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => this.#track(request.socket, response));
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** From now on every response asks the client to close its connection (and reconnect elsewhere). */
  beginShutdown(): void {
    this.#shuttingDown = true;
    for (const response of this.#inFlight.keys()) if (!response.headersSent) response.setHeader('connection', 'close');
  }

  /** Stops accepting connections and closes the idle ones; the others close as their responses end. */
  stopAccepting(): void {
    this.beginShutdown();
    // fastify closes node's server (which closes idle connections) and runs its onClose hooks.
    this.#closed ??= this.#app.close().catch(() => undefined);
  }

  /** Resolves when the listener holds no connection any more. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#onIdle = resolve;
      this.#checkIdle();
    });
  }

  /** At the end of the grace: cuts every connection left (requests included). */
  async cut(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await this.#closed;
  }

  #track(socket: Socket, response: ServerResponse): void {
    this.#inFlight.set(response, socket);
    if (this.#shuttingDown) response.setHeader('connection', 'close');
    response.once('close', () => {
      this.#inFlight.delete(response);
      // Once the listener stopped accepting, a response that had already promised keep-alive still
      // ends its connection, gracefully (what was written reaches the client). Not during the
      // readiness delay: the client may be sending its next request on it, which is then served.
      if (this.#closed && !socket.destroyed) socket.end();
      this.#checkIdle();
    });
  }

  #checkIdle(): void {
    if (this.#onIdle && this.#closed && this.#sockets.size === 0) this.#onIdle();
  }
}
