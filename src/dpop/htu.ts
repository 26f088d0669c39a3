import type { FastifyRequest } from 'fastify';
import type { BlockList } from 'node:net';
import { inBlocks } from '../http/client-address.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The listener's URL as clients reach it (no trailing slash): what a DPoP proof's htu names. */
    externalBase: string | undefined;
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * An htu (or a request URL) in the form RFC 9449 §4.3 compares: without query and fragment, after the
 * syntax- and scheme-based normalisation of RFC 3986 §6.2.2–6.2.3 (case of scheme and host, default
 * port, dot segments, percent-encoding). Undefined when it is not an http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  // The URL parser lowercases scheme and host, drops the default port and resolves dot segments;
  // percent-encodings are left as sent: upper-case hex, and unreserved characters decoded.
  const path = url.pathname.replace(/%[0-9a-fA-F]{2}/g, (escape) => {
    const char = String.fromCharCode(parseInt(escape.slice(1), 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * The URL a request was sent to, as its client saw it: the listener's external URL and the request's
 * path, or, on a connection from a trusted proxy, the host and scheme the proxy forwarded.
 */
export function requestHtu(request: FastifyRequest, trustedProxies: BlockList | undefined): string | undefined {
  const path = request.url.split('?')[0].split('#')[0];
  let base = request.server.externalBase;
  const forwardedHost = request.headers['x-forwarded-host'];
  if (trustedProxies && typeof forwardedHost === 'string' && inBlocks(trustedProxies, unmapped(request.socket.remoteAddress ?? ''))) {
    const proto = request.headers['x-forwarded-proto'];
    const scheme = typeof proto === 'string' && /^https?$/i.test(proto.split(',')[0].trim()) ? proto.split(',')[0].trim().toLowerCase() : 'https';
    base = `${scheme}://${forwardedHost.split(',')[0].trim()}`;
  }
  if (base === undefined) return undefined;
  // Most paths need no normalisation: skip the URL parser for them (a base is normalised once).
  if (PLAIN_PATH.test(path) && !path.includes('/.')) {
    let normalBase = normalBases.get(base);
    if (normalBase === undefined) {
      normalBase = normalizeHtu(base + '/')?.slice(0, -1);
      if (normalBase === undefined) return undefined;
      if (normalBases.size < 64) normalBases.set(base, normalBase);
    }
    return normalBase + path;
  }
  return normalizeHtu(base + path);
}

const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
// Listener URLs and the few hosts trusted proxies forward, normalised.
const normalBases = new Map<string, string>();

function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The URL of one of the gateway's endpoints on the listener a request came in on (the back channel is
 * on both TLS listeners): what a client assertion's `aud` may name where the profile allows the
 * endpoint's URL.
 */
export function listenerEndpointUrl(request: FastifyRequest, path: string, fallback: string): string {
  const base = request.server.externalBase;
  return base === undefined ? fallback : base + path;
}
