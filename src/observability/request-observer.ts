import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BlockList } from 'node:net';
import { clientAddress } from '../http/client-address.js';
import type { PeerCertificateSource } from '../tls/forwarded-certificate.js';
import type { Metrics } from './metrics.js';
import { statusClass } from './metrics.js';
import { logsInfo } from './logging.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated client, once known (client authentication or a verified access token). */
    clientId: string | undefined;
  }
  interface FastifyInstance {
    /** Observes a request answered outside the route lifecycle (Fastify's frameworkErrors), where no hook runs. */
    observeUnrouted?: (request: FastifyRequest, reply: FastifyReply) => void;
  }
}

/**
 * One log line per request (the interaction id is its request id) and the HTTP metrics, however the
 * request ends: from the onResponse hook when the response was sent, or when the connection closed
 * before that (client abort, upstream reset mid-body), with `aborted: true`. Metrics may be off; the
 * log line stays.
 */
export function observeRequests(
  app: FastifyInstance,
  listener: string,
  metrics: Metrics | undefined,
  onObserved?: (input: { listener: string; route: string; request: FastifyRequest; status: number; seconds: number }) => void,
  peers: RequestPeers = {},
): void {
  app.decorateRequest('clientId', undefined);
  const observe = (request: FastifyRequest, reply: FastifyReply, aborted: boolean) => {
    // Observed once: by onResponse, or at 'close' when the response never finished.
    const raw = reply.raw as Observable;
    if (raw[OBSERVED] === DONE) return;
    raw[OBSERVED] = DONE;
    const route = request.routeOptions?.url ?? 'unmatched';
    const status = reply.statusCode;
    // Outside the route lifecycle Fastify keeps no start time.
    const elapsed = Number.isFinite(reply.elapsedTime) ? reply.elapsedTime : 0;
    const seconds = elapsed / 1000;
    if (metrics) {
      const labels = { listener, route, method: request.method, status_class: statusClass(status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      if (aborted) metrics.httpAborted.inc({ listener, route });
    }
    onObserved?.({ listener, route, request, status, seconds });
    // The line's fields (the caller's address, its certificate's subject) are only gathered when it is written.
    if (!logsInfo(request.log)) return;
    // The interaction id is the line's request id (requestIdLogLabel), not repeated here.
    request.log.info(
      {
        listener,
        route,
        method: request.method,
        status,
        durationMs: Math.round(elapsed * 100) / 100,
        clientId: request.clientId,
        clientIp: clientAddress(request, peers.trustedProxies),
        ...certificateSubject(request, peers.peerCertificate),
        ...(aborted ? { aborted: true } : {}),
      },
      'request',
    );
  };
  // onResponse runs on 'finish' only; a response cut short just closes. One listener function for
  // every response, which finds its reply on the response: no closure per request.
  // ('close' comes once per response, and a response serves one request.)
  function onClose(this: Observable) {
    const reply = this[OBSERVED];
    if (reply !== undefined && reply !== DONE) observe(reply.request, reply, !this.writableFinished);
  }
  const observeClose = (_request: FastifyRequest, reply: FastifyReply) => {
    const raw = reply.raw as Observable;
    raw[OBSERVED] = reply;
    raw.on('close', onClose);
  };
  app.decorate('observeUnrouted', observeClose);
  app.addHook('onRequest', (request, reply, done) => {
    observeClose(request, reply);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    observe(request, reply, false);
    done();
  });
}

/** On a response: its reply until the request is observed, DONE after. */
const OBSERVED = Symbol('observed request');
const DONE = Symbol('observed');
type Observable = FastifyReply['raw'] & { [OBSERVED]?: FastifyReply | typeof DONE };

/** What the request line says of the caller: its address behind trusted proxies, its certificate. */
export interface RequestPeers {
  trustedProxies?: BlockList | undefined;
  peerCertificate?: PeerCertificateSource;
}

/** The client certificate's subject (from the handshake or a trusted proxy's header), parsed once per connection. */
function certificateSubject(request: FastifyRequest, source: PeerCertificateSource | undefined): { certificateSubject?: string } {
  if (!source) return {};
  try {
    const certificate = source(request.raw);
    return certificate ? { certificateSubject: certificate.parsed().subject } : {};
  } catch {
    return { certificateSubject: 'unparseable' };
  }
}

/** TLS connection metrics: version and client certificate per connection, handshake and chain failures. */
export function observeTls(server: TlsServer, listener: string, metrics: Metrics): void {
  server.on('secureConnection', (socket: TLSSocket) => {
    const presented = listener === 'mtls' && socket.getPeerCertificate(false)?.raw !== undefined;
    metrics.tlsConnections.inc({ listener, version: socket.getProtocol() ?? 'unknown', client_certificate: presented ? 'yes' : 'no' });
    if (presented && !socket.authorized) metrics.certificateFailures.inc({ reason: String(socket.authorizationError ?? 'unknown') });
  });
  server.on('tlsClientError', () => metrics.tlsHandshakeFailures.inc({ listener }));
}
