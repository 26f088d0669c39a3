import { isIPv4, isIPv6, type BlockList } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** The peer's address, or behind a trusted proxy the nearest address in X-Forwarded-For that is not one. */
export function clientAddress(request: Pick<FastifyRequest, 'socket' | 'headers'>, proxies?: BlockList): string {
  const peer = unmapped(request.socket.remoteAddress ?? 'unknown');
  if (!proxies || !inBlocks(proxies, peer)) return peer;
  const forwarded = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((a) => unmapped(a.trim())).filter((a) => isIPv4(a) || isIPv6(a));
  for (let i = hops.length - 1; i >= 0; i--) if (!inBlocks(proxies, hops[i]) || i === 0) return hops[i];
  return peer;
}

/**
 * True when the request's address is read from X-Forwarded-For (its peer is a trusted proxy), so it
 * may change from one request of a connection to the next; otherwise it is the connection's peer.
 */
export function forwardedByProxy(request: Pick<FastifyRequest, 'socket'>, proxies?: BlockList): boolean {
  return proxies !== undefined && inBlocks(proxies, unmapped(request.socket.remoteAddress ?? 'unknown'));
}

/** True when the address lies in one of the blocks. */
export function inBlocks(proxies: BlockList, address: string): boolean {
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
