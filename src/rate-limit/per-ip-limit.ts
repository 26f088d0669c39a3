import { isIPv4, isIPv6, type BlockList } from 'node:net';
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
  app.addHook('onRequest', async (request, reply) => {
    const address = clientAddress(request, options.trustedProxies);
    if (options.exempt && trusted(options.exempt, address)) return;
    const client = addressKey(address);
    const verdict = buckets.take(client);
    if (verdict.allowed) return;
    metrics?.rateLimitedRequests.inc({ listener });
    if (verdict.first) request.log.warn({ audit: 'rate_limited', listener, client, route: request.routeOptions.url }, 'rate_limited');
    const retryAfter = String(verdict.retryAfterSeconds);
    if (listener === 'public' && isPage(request.url)) {
      reply.header('retry-after', retryAfter);
      return sendPage(reply, 429, 'Too many requests', errorPage('temporarily_unavailable', 'Too many requests came from your network. Try again in a moment.'));
    }
    return sendOAuthError(reply, new OAuthError('slow_down', 'too many requests from this address; retry later', 429, { 'retry-after': retryAfter }));
  });
}

/** The browser's pages: the authorization endpoint, login and consent. */
function isPage(url: string): boolean {
  return [PATHS.authorization, INTERACTION_PREFIX].some((prefix) => url === prefix || url.startsWith(prefix + '/') || url.startsWith(prefix + '?'));
}

/** The peer's address, or behind a trusted proxy the nearest address in X-Forwarded-For that is not one. */
export function clientAddress(request: Pick<FastifyRequest, 'socket' | 'headers'>, proxies?: BlockList): string {
  const peer = unmapped(request.socket.remoteAddress ?? 'unknown');
  if (!proxies || !trusted(proxies, peer)) return peer;
  const forwarded = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((a) => unmapped(a.trim())).filter((a) => isIPv4(a) || isIPv6(a));
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted(proxies, hops[i]) || i === 0) return hops[i];
  return peer;
}

function trusted(proxies: BlockList, address: string): boolean {
  return isIPv4(address) ? proxies.check(address, 'ipv4') : isIPv6(address) ? proxies.check(address, 'ipv6') : false;
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * The bucket an address counts against: an IPv4 address, or an IPv6 address's /64 (one subscriber's
 * network; counting single IPv6 addresses would give each client 2^64 buckets).
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address;
  const [head, tail] = address.split('%')[0].split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const full = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':') + '::/64';
}
