import type { FastifyReply } from 'fastify';
import { sendOAuthError } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';

export type UpstreamFailure = 'overflow' | 'timeout' | 'refused' | 'reset' | 'too_large' | 'other';

/** Classifies a proxy error by its cause (reply-from wraps undici's errors). */
export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const codes: string[] = [];
  for (let e = error as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (typeof e.code === 'string') codes.push(e.code);
  if (codes.includes('UPSTREAM_OVERFLOW')) return 'overflow';
  if (codes.some((c) => c === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' || c.includes('TIMEOUT'))) return 'timeout';
  if (codes.includes('ECONNREFUSED')) return 'refused';
  if (codes.some((c) => c === 'ECONNRESET' || c === 'UND_ERR_SOCKET' || c === 'EPIPE')) return 'reset';
  return 'other';
}

/** Answers a failed upstream call: 503 when the route is full, 504 on timeout, 502 otherwise, as JSON like every other error. */
export function sendUpstreamError(reply: FastifyReply, failure: UpstreamFailure): FastifyReply {
  if (failure === 'overflow')
    return sendOAuthError(reply, new OAuthError('temporarily_unavailable', 'the upstream service is busy; retry later', 503, { 'retry-after': '1' }));
  if (failure === 'too_large') return sendOAuthError(reply, new OAuthError('invalid_request', 'request body too large', 413));
  if (failure === 'timeout') return sendOAuthError(reply, new OAuthError('upstream_timeout', 'the upstream service did not answer in time', 504));
  return sendOAuthError(reply, new OAuthError('bad_gateway', 'the upstream service is unavailable', 502));
}
