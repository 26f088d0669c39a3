import type { BlockList } from 'node:net';
import { addressKey, clientAddress, forwardedByProxy, inBlocks } from '../http/client-address.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PATHS } from '../config/urls.js';
import { sendOAuthError } from '../http/error-handler.js';
import { errorPage, sendPage } from '../interaction/pages.js';
import { INTERACTION_PREFIX } from '../interaction/routes.js';
import { OAuthError } from '../oauth/errors.js';
import type { Metrics } from '../observability/metrics.js';
import { TokenBuckets } from './token-buckets.js';

export interface PerIpLimitOptions {
  listener: 'public' | 'mtls';
  /** Requests a minute per client address (0: off), and how many may come at once (default: a minute's worth). */
  limit: { perIpPerMinute: number; burst?: number };
  maxTrackedIps: number;
  /** Proxies whose X-Forwarded-For names the client (the forwarded-certificate proxies). */
  trustedProxies?: BlockList;
  /** Client addresses never limited. */
  exempt?: BlockList;
  metrics?: Metrics;
}

/**
 * Refuses requests from a client address past its rate with 429 and Retry-After, before any other
 * work: as a page on the browser's pages, as an OAuth JSON error (`slow_down`) on the APIs. The first
 * refusal of an episode is an audit event; every refusal is counted.
 */
export function perIpRateLimit(app: FastifyInstance, options: PerIpLimitOptions): void {
  const { listener, limit, metrics } = options;
  if (limit.perIpPerMinute === 0) return;
  const buckets = new TokenBuckets(limit.perIpPerMinute, limit.burst ?? limit.perIpPerMinute, options.maxTrackedIps);
  // Who a connection's requests count as, worked out on its first request (a BlockList check costs
  // microseconds): the same for all of them unless a trusted proxy names the client in each.
  const callers = new WeakMap<object, Caller>();
  const callerOf = (request: FastifyRequest): Caller => {
    const known = callers.get(request.raw.socket);
    if (known) return known;
    const address = clientAddress(request, options.trustedProxies);
    const caller = { client: addressKey(address), exempt: options.exempt !== undefined && inBlocks(options.exempt, address) };
    if (!forwardedByProxy(request, options.trustedProxies)) callers.set(request.raw.socket, caller);
    return caller;
  };
  // A callback hook: the usual request passes straight on, without a promise of its own.
  app.addHook('onRequest', (request, reply, done) => {
    const { client, exempt } = callerOf(request);
    if (exempt) return done();
    const verdict = buckets.take(client);
    if (verdict.allowed) return done();
    metrics?.rateLimitedRequests.inc({ listener });
    if (verdict.first) request.log.warn({ audit: 'rate_limited', listener, client, route: request.routeOptions.url }, 'rate_limited');
    const retryAfter = String(verdict.retryAfterSeconds);
    // Answered here: done() is not called, so nothing else runs for the request.
    if (listener === 'public' && isPage(request.url)) {
      reply.header('retry-after', retryAfter);
      sendPage(reply, 429, 'Too many requests', errorPage('temporarily_unavailable', 'Too many requests came from your network. Try again in a moment.'));
      return;
    }
    sendOAuthError(reply, new OAuthError('slow_down', 'too many requests from this address; retry later', 429, { 'retry-after': retryAfter }));
  });
}

interface Caller {
  /** The bucket the requests count against (addressKey). */
  client: string;
  exempt: boolean;
}

/** The browser's pages: the authorization endpoint, login and consent. */
function isPage(url: string): boolean {
  return [PATHS.authorization, INTERACTION_PREFIX].some((prefix) => url === prefix || url.startsWith(prefix + '/') || url.startsWith(prefix + '?'));
}
