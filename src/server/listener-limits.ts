import type { Server } from 'node:net';
import type { FastifyServerOptions } from 'fastify';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';

export type ServerLimits = ConfigFile['server'];

/**
 * A client that drips its headers or body, never finishes its TLS handshake or opens connection after
 * connection holds memory and a file descriptor for free; these bounds cut it. Fails at start when
 * node would refuse the combination.
 */
export function checkServerLimits(limits: ServerLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new ConfigError('server.headersTimeoutMs', `must not be longer than server.requestTimeoutMs (${limits.requestTimeoutMs})`);
}

/** Fastify's own options for a listener: the timeouts it sets on node's server, and how it behaves while closing. */
export function fastifyLimits(limits: ServerLimits): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'keepAliveTimeout' | 'maxRequestsPerSocket' | 'return503OnClosing' | 'forceCloseConnections'
> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // A request that reaches a closing listener on a connection it already had is served, with
    // `Connection: close`, instead of a bare 503: the client did nothing wrong (see server/drain.ts).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  };
}

/** Options for node's http(s).createServer, which fastify passes on (`https` or `http`). */
export function nodeServerLimits(limits: ServerLimits, tls: boolean) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks the two timeouts above on this interval (30 s by default, which would double a
    // 30 s timeout); a quarter of the shorter one, within 50 ms..1 s.
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    ...(tls ? { handshakeTimeout: limits.handshakeTimeoutMs } : {}),
  };
}

/** Caps the connections a listener holds and counts the connections the limits cut. */
export function applyConnectionLimits(server: Server, limits: ServerLimits, listener: string, metrics: Metrics | undefined): void {
  server.maxConnections = limits.maxConnections;
  if (!metrics) return;
  server.on('drop', () => metrics.connectionsCut.inc({ listener, reason: 'max_connections' }));
  server.on('clientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') metrics.connectionsCut.inc({ listener, reason: 'request_timeout' });
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.connectionsCut.inc({ listener, reason: 'handshake_timeout' });
  });
}
