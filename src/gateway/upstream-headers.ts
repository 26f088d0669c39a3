import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import type { RouteConfig } from '../config/schema.js';
import { INTERACTION_ID } from './fapi-headers.js';
import { activeTracing } from '../observability/tracing/tracing.js';

/** The accounts the customer chose to share, comma-separated (account ids never contain commas as the bank issues them). */
export const ACCOUNT_IDS = 'x-authenticated-account-ids';

/** What the gateway saw of the connection, told to the upstream in the forwarding headers. */
export interface ClientConnection {
  ip: string;
  host: string | undefined;
}

// Hop-by-hop headers (RFC 9110 §7.6.1), and `expect`: the gateway answers 100-continue itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade', 'expect']);
// Headers upstreams trust to say who the client is, where it connected and which certificate it showed.
// Only the gateway may set them: a client's copy is dropped, whatever its spelling.
const TRUSTED_NAMES = new Set([
  INTERACTION_ID,
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'client-ip',
  'client-cert',
  'client-cert-chain',
  'x-rewrite-url',
  'x-arr-clientcert',
]);
const TRUSTED_PREFIXES = ['x-authenticated-', 'x-forwarded-', 'x-ssl-', 'x-client-cert', 'ssl-client-', 'x-original-', 'x-amzn-mtls-'];
// W3C trace context: with tracing on, the upstream gets the gateway's (its call's span), never a client's too.
const TRACE_CONTEXT = new Set(['traceparent', 'tracestate', 'baggage']);
// Headers the gateway reads and checks: a spelling with `_` would reach the upstream unchecked.
const CHECKED_PREFIXES = ['x-fapi-', 'authorization'];

/** A header name as frameworks that read `_` as `-` (CGI, WSGI, Rack, PHP, nginx with underscores) see it. */
const canonical = (name: string) => name.toLowerCase().replaceAll('_', '-');

function isTrusted(name: string): boolean {
  return TRUSTED_NAMES.has(name) || TRUSTED_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * What the upstream receives: the client's headers minus hop-by-hop ones and every spelling of a header
 * only the gateway may set (the configured forwarded client-certificate header among them), plus the
 * gateway's identity and forwarding headers.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  token: AccessTokenClaims,
  route: RouteConfig,
  interactionId: string,
  seen: ClientConnection,
  /** Headers the route's conventions set (e.g. a negotiated `x-v`): a client's copy, whatever its spelling, is dropped. */
  replaced?: Record<string, string>,
  /** The accounts the customer chose at consent (the grant's `accountIds`). */
  accountIds?: readonly string[],
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const tracing = activeTracing() !== undefined;
  for (const name in incoming) {
    const spelled = canonical(name);
    if (HOP_BY_HOP.has(spelled) || isTrusted(spelled)) continue;
    if (tracing && TRACE_CONTEXT.has(spelled)) continue;
    if (replaced !== undefined && Object.hasOwn(replaced, spelled)) continue;
    if (spelled !== name && CHECKED_PREFIXES.some((p) => spelled.startsWith(p))) continue;
    if (name === 'authorization' && !route.forwardAuthorization) continue;
    // A DPoP proof is for the gateway's URL and has been spent here; it means nothing upstream.
    if (spelled === 'dpop') continue;
    headers[name] = incoming[name];
  }
  headers[INTERACTION_ID] = interactionId;
  if (replaced !== undefined) Object.assign(headers, replaced);
  headers['x-authenticated-client-id'] = token.client_id;
  headers['x-authenticated-subject'] = token.sub;
  headers['x-authenticated-scope'] = token.scope;
  headers['x-authenticated-grant-id'] = token.grant_id;
  // A route's conventions may have set the accounts their own way already (the customer's choice either way).
  if (accountIds?.length && !replaced?.[ACCOUNT_IDS]) headers[ACCOUNT_IDS] = accountIds.join(',');
  // The gateway is the edge: it reports the connection it saw, not a chain a client wrote.
  headers['x-forwarded-for'] = seen.ip;
  headers['x-forwarded-proto'] = 'https';
  const forwarded = [`for=${forwardedNode(seen.ip)}`, 'proto=https'];
  if (seen.host) {
    headers['x-forwarded-host'] = seen.host;
    forwarded.push(`host=${quoted(seen.host)}`);
  }
  headers.forwarded = forwarded.join(';');
  return headers;
}

/**
 * What the client receives of the upstream's response headers: all but the hop-by-hop ones (and those
 * its Connection header names), which describe the upstream's connection, not the client's.
 */
export function downstreamHeaders(upstream: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = String(upstream.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const headers: IncomingHttpHeaders = {};
  for (const name in upstream) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding' || listed.includes(lower)) continue;
    headers[name] = upstream[name];
  }
  return headers;
}

/** RFC 7239 §6: an IPv6 address is bracketed and quoted. */
function forwardedNode(ip: string): string {
  return isIP(ip) === 6 ? `"[${ip}]"` : ip;
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
