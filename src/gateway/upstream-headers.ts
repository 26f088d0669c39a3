import type { IncomingHttpHeaders } from 'node:http';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import type { RouteConfig } from '../config/schema.js';
import { INTERACTION_ID } from './fapi-headers.js';

/** Headers only the gateway may set: whatever a client sends under these names is dropped first. */
const IDENTITY_PREFIX = 'x-authenticated-';
// Hop-by-hop headers (RFC 9110 §7.6.1) and client-certificate headers a client could forge.
const DROPPED = new Set([
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  'ssl-client-cert',
  'x-forwarded-client-cert',
  'x-ssl-client-cert',
]);

/** What the upstream receives: the client's headers minus hop-by-hop and spoofable ones, plus the gateway's identity headers. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, token: AccessTokenClaims, route: RouteConfig, interactionId: string): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const name in incoming) {
    if (DROPPED.has(name) || name.startsWith(IDENTITY_PREFIX)) continue;
    if (name === 'authorization' && !route.forwardAuthorization) continue;
    headers[name] = incoming[name];
  }
  headers[INTERACTION_ID] = interactionId;
  headers['x-authenticated-client-id'] = token.client_id;
  headers['x-authenticated-subject'] = token.sub;
  headers['x-authenticated-scope'] = token.scope;
  headers['x-authenticated-grant-id'] = token.grant_id;
  return headers;
}
