import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WorkRefused } from '../admission/work-limiter.js';
import type { ErrorRenderingConfig } from '../gateway/resource-conventions.js';
import { OAuthError } from '../oauth/errors.js';
import { StoreUnavailableError } from '../store/store.js';

export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/**
 * Sends an OAuth error as JSON (RFC 6749 §5.2) with no-store caching, or as the route's ecosystem
 * renders its errors (a resource route with conventions, see src/gateway/resource-conventions.ts).
 */
export function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  const render = (reply.routeOptions?.config as ErrorRenderingConfig | undefined)?.renderError;
  if (render) return render(reply, err);
  return reply.code(err.status).headers(NO_STORE).headers(err.headers).type('application/json').send(err.toJSON());
}

/** During an outage every request fails the same way: one log line every few seconds says so, with a count. */
class LogThrottle {
  #last = 0;
  #suppressed = 0;
  constructor(private readonly intervalMs: number) {}
  /** The number of events suppressed since the last line, when a line is due now; undefined otherwise. */
  take(): number | undefined {
    const now = Date.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return undefined;
    }
    const suppressed = this.#suppressed;
    this.#last = now;
    this.#suppressed = 0;
    return suppressed;
  }
}
const outageLog = new LogThrottle(5_000);

/** Logs a store outage, throttled. */
export function logStoreOutage(request: FastifyRequest): void {
  const suppressed = outageLog.take();
  if (suppressed !== undefined) request.log.error({ event: 'store_unavailable', suppressed }, 'state store unavailable');
}

/** What a failure becomes when it is not an OAuthError we raised; shared by the JSON and HTML handlers. */
export function classifyFailure(err: FastifyError, request: FastifyRequest): OAuthError {
  // Fail closed: without the shared state nothing is issued or accepted, and the client may retry.
  if (err instanceof StoreUnavailableError) {
    logStoreOutage(request);
    return new OAuthError('temporarily_unavailable', 'the service is temporarily unavailable', 503, { 'retry-after': '1' });
  }
  // Costly work past its limiter: refused at once, and the client told when to come back.
  if (err instanceof WorkRefused) {
    request.log.warn({ audit: 'admission_refused', work: err.work, route: request.routeOptions.url }, 'admission_refused');
    return new OAuthError('temporarily_unavailable', 'the service is busy; retry later', 503, { 'retry-after': String(err.retryAfterSeconds) });
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = status === 413 ? 413 : status === 405 ? 405 : 400;
    return new OAuthError('invalid_request', describeClientError(err), code);
  }
  request.log.error({ err }, 'unhandled error');
  return new OAuthError('server_error', 'internal error');
}

/**
 * Every failure leaves as an OAuth-style JSON error: errors we raise keep their code and status;
 * framework errors about the request (bad media type, oversized or malformed body) become
 * `invalid_request`; anything else is a 500 `server_error` with no detail.
 */
export function installOAuthErrorHandling(app: FastifyInstance, observe?: (err: OAuthError, request: FastifyRequest) => void): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof OAuthError) {
      observe?.(err, request);
      return sendOAuthError(reply, err);
    }
    return sendOAuthError(reply, classifyFailure(err, request));
  });
  app.setNotFoundHandler((request, reply) =>
    sendOAuthError(reply, new OAuthError('invalid_request', `no endpoint ${request.method} ${request.url.split('?')[0]}`, 404)),
  );
}

function describeClientError(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type; send application/x-www-form-urlencoded';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'request body too large';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'malformed request body';
    default:
      return 'malformed request';
  }
}

/** Answers 405 with an `Allow` header for the methods a path does not take. */
export function methodNotAllowed(app: FastifyInstance, path: string, allowed: string[]): void {
  // Fastify answers HEAD itself wherever GET is routed.
  const taken = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
  const others = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter((m) => !taken.includes(m));
  app.route({
    method: others,
    url: path,
    handler: (_request, reply) =>
      sendOAuthError(reply, new OAuthError('invalid_request', `use ${allowed.join(' or ')}`, 405, { allow: allowed.join(', ') })),
  });
}

const CLIENT_ERROR_STATUS: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, ERR_HTTP_REQUEST_TIMEOUT: 408, HPE_URI_TOO_LONG: 414 };

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser rejects (malformed request line or
 * headers, invalid framing, oversized headers, a request timeout) is answered like every other refusal
 * (OAuth JSON, `no-store`, a `Date`) instead of Fastify's bare answer. (A target the router cannot
 * decode is `frameworkErrors`, in request-target.ts.)
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer; a response already under way cannot be followed by another.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400;
  const description = status === 431 ? 'request headers too large' : status === 408 ? 'the request took too long' : status === 414 ? 'the request target is too long' : 'malformed HTTP request';
  const body = JSON.stringify(new OAuthError('invalid_request', description, status).toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
