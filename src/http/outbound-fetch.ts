import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';

/**
 * Fetching documents at URLs that clients chose (a registered client's jwks_uri) or that point at
 * a directory: HTTPS only, no redirects, bounded in time and size, and never to an address inside
 * the operator's network (loopback, private, link-local, metadata services) unless the operator
 * allows it. The address check runs on the address actually connected to, so a name that resolves
 * differently the second time (DNS rebinding) cannot get around it.
 */
export interface OutboundFetchOptions {
  /** Largest body read; a longer one fails. */
  maxBytes: number;
  /** The whole exchange: connecting, headers and body. */
  timeoutMs: number;
  /** Addresses allowed although private (e.g. a directory mirror inside the network; tests: loopback). */
  allowedPrivate?: BlockList;
  /** Operator-written URLs (config clients, directories) may point anywhere. */
  allowAnyAddress?: boolean;
  /** Trust anchors instead of the system's, and a client certificate (mTLS to an identity provider). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export class OutboundFetchError extends Error {
  override readonly name = 'OutboundFetchError';
}

/** Addresses no client-chosen URL may reach (IANA special-purpose registries). */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 127], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** Why `address` may not be connected to, or undefined when it may. */
export function refusedAddress(address: string, options: Pick<OutboundFetchOptions, 'allowedPrivate' | 'allowAnyAddress'>): string | undefined {
  if (options.allowAnyAddress) return undefined;
  const family: 'ipv4' | 'ipv6' = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  // An IPv4-mapped IPv6 address is checked as the IPv4 address it is.
  const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  const [checked, checkedFamily]: [string, 'ipv4' | 'ipv6'] = mapped ? [mapped, 'ipv4'] : [address, family];
  if (!NON_PUBLIC.check(checked, checkedFamily)) return undefined;
  if (options.allowedPrivate?.check(checked, checkedFamily)) return undefined;
  return `${address} is not a public address`;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(options: OutboundFetchOptions) {
  return (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const refused = list.map((a) => refusedAddress(a.address, options)).find((r) => r !== undefined);
      if (refused) return callback(Object.assign(new OutboundFetchError(`${hostname}: ${refused}`), { code: 'EADDRNOTALLOWED' }), []);
      if (lookupOptions.all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}

export type OutboundFetch = (
  url: string,
  init?: { method?: string; body?: string | Uint8Array | URLSearchParams | null; headers?: HeadersInit; signal?: AbortSignal | null },
) => Promise<Response>;

/**
 * A fetch-shaped function (jose's remote JWKS takes one) over the guarded connection. Answers are
 * read whole within the bounds, so the Response it gives holds at most `maxBytes`.
 */
export function outboundFetch(options: OutboundFetchOptions): OutboundFetch {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options) as never, timeout: options.timeoutMs, ...options.tls },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connections: 8,
  });
  return async (url, init = {}) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') throw new OutboundFetchError(`${url}: only https URLs are fetched`);
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (isIP(literal)) {
      const refused = refusedAddress(literal, options);
      if (refused) throw new OutboundFetchError(`${url}: ${refused}`);
    }
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(options.timeoutMs)]) : AbortSignal.timeout(options.timeoutMs);
    let res;
    try {
      const method = (init.method ?? 'GET') as 'GET' | 'POST';
      const body = init.body instanceof URLSearchParams ? init.body.toString() : (init.body ?? undefined);
      const headers = init.headers ? Object.fromEntries(new Headers(init.headers)) : undefined;
      res = await request(target, { method, headers, body, dispatcher: agent, signal });
    } catch (err) {
      throw new OutboundFetchError(`${url}: ${(err as Error).message}`, { cause: err });
    }
    const declared = Number(res.headers['content-length']);
    if (declared > options.maxBytes) {
      res.body.destroy();
      throw new OutboundFetchError(`${url}: the answer is larger than ${options.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > options.maxBytes) {
          res.body.destroy();
          throw new OutboundFetchError(`${url}: the answer is larger than ${options.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof OutboundFetchError) throw err;
      throw new OutboundFetchError(`${url}: ${(err as Error).message}`, { cause: err });
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
    return new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode, headers });
  };
}

/** GETs a JSON document (a JWKS) with `fetch`; fails on anything but 200 with JSON. */
export async function fetchJson(fetch: OutboundFetch, url: string): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new OutboundFetchError(`${url}: answered ${res.status}, expected 200`);
  try {
    return await res.json();
  } catch {
    throw new OutboundFetchError(`${url}: the answer is not JSON`);
  }
}
