import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { INTERACTION_ID } from '../gateway/fapi-headers.js';
import { OAuthError } from '../oauth/errors.js';
import { sendOAuthError } from './error-handler.js';

// A `%` must start a two-digit escape (RFC 3986 §2.1); anything else is not a URI.
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
// Escapes that turn into a path separator, a NUL or a second round of decoding (`%252e` is `%2e` once decoded).
const SMUGGLING_ESCAPE = /%(2f|5c|00|3b|25[0-9a-f]{2})/i;
// Non-empty segments of letters, digits, `_`, `-` and `~` (no dot, escape, `;` or backslash), an optional
// trailing slash, and a query without `%`.
const PLAIN_TARGET = /^(?:(?:\/[\w~-]+)+\/?|\/)(?:\?[^%]*)?$/;

/**
 * What is wrong with a request target, or undefined when it is a plain origin-form target
 * (RFC 9112 §3.2.1) whose path means the same to every server behind us. Refused: absolute and
 * asterisk forms, backslashes (WHATWG URL and many frameworks read them as `/`), dot segments raw or
 * percent-encoded, encoded separators, double encoding, empty segments and malformed escapes. The
 * gateway matches routes on this path; anything an upstream could resolve differently would let a
 * request matched under one route's scope reach another path.
 */
export function requestTargetProblem(target: string): string | undefined {
  // Most targets (/par, /token, an API's path) are word segments with a query free of escapes: none
  // of the checks below can find anything in them. Every request passes here first.
  if (PLAIN_TARGET.test(target)) return undefined;
  if (!target.startsWith('/')) return 'the request target must be a path (origin-form)';
  const queryAt = target.indexOf('?');
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  if (BAD_ESCAPE.test(target)) return 'malformed percent-encoding in the request target';
  if (path.includes('\\')) return 'backslash in the request path';
  // Servlet containers drop `;parameters` from a segment before resolving it: `/a/admin;x/b` is
  // `/a/admin/b` to them, which may be a narrower route's path. The gateway gives `;` no meaning.
  if (path.includes(';')) return 'semicolon in the request path';
  if (SMUGGLING_ESCAPE.test(path)) return 'encoded separator or double encoding in the request path';
  const segments = path.split('/').slice(1);
  for (const [i, segment] of segments.entries()) {
    // A trailing slash is an empty last segment; an empty one elsewhere is `//`.
    if (segment === '' && i < segments.length - 1) return 'empty segment in the request path';
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'malformed percent-encoding in the request target';
    }
    // Servlet containers drop `;parameters` from a segment before resolving it: `..;x` is `..` to them.
    const name = decoded.split(';')[0];
    if (name === '.' || name === '..') return 'dot segment in the request path';
  }
  return undefined;
}

function refuse(reply: FastifyReply, description: string): FastifyReply {
  return sendOAuthError(reply, new OAuthError('invalid_request', description, 400));
}

/** Refuses, before any route runs, a request whose target is not a plain path (see requestTargetProblem). */
export function refuseMalformedTargets(app: FastifyInstance): void {
  // A callback hook: a plain target passes straight on, without a promise of its own; a refused one
  // is answered here and done() is not called.
  app.addHook('onRequest', (request, reply, done) => {
    const problem = requestTargetProblem(request.raw.url ?? '');
    if (problem === undefined) return done();
    refuse(reply, problem);
  });
}

/**
 * Fastify's `frameworkErrors`: a path it cannot decode (FST_ERR_BAD_URL) or route is a client error,
 * answered like every other one instead of Fastify's own body.
 */
export function answerFrameworkError(_error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // The listener's hooks do not run for these: the interaction id and the request line are done here.
  reply.header(INTERACTION_ID, request.id);
  request.server.observeUnrouted?.(request, reply);
  if (_error.code === 'FST_ERR_MAX_PARAM_LENGTH') return void sendOAuthError(reply, new OAuthError('invalid_request', 'the request target is too long', 414));
  refuse(reply, 'malformed request target');
}
