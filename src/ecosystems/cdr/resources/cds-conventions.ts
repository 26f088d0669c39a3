import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { RouteConfig } from '../../../config/schema.js';
import { ConfigError } from '../../../config/config-error.js';
import { INTERACTION_ID, isHttpDate } from '../../../gateway/fapi-headers.js';
import { acceptsJson, methodScopes, type ResourceConventions, type ResourceExchange } from '../../../gateway/resource-conventions.js';
import type { Grant } from '../../../grants/grant.js';
import { CdsError, headerInvalid, headerMissing, renderCdsError } from './cds-errors.js';
import { inCdsNamespace, isCdsEndpoint } from './cds-endpoints.js';

const VERSION = /^[1-9][0-9]{0,8}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Longer interaction ids are replaced rather than echoed: a correlation id, not a payload.
const MAX_INTERACTION_ID = 256;
const SETTINGS = new Set(['versions', 'scopes']);

/** What a CDS route declares under `ecosystem`: the versions (`x-v`) its upstream serves, and scopes per method. */
export interface CdsRouteSettings {
  versions: number[];
  scopes?: Record<string, readonly string[]>;
}

export function cdsRouteSettings(route: RouteConfig): CdsRouteSettings | undefined {
  const data = route.ecosystem;
  if (data === undefined) {
    if (inCdsNamespace(route.prefix)) throw new ConfigError('ecosystem.versions', `is required for a route in the CDS namespace (${route.prefix})`);
    return undefined;
  }
  for (const key of Object.keys(data)) if (!SETTINGS.has(key)) throw new ConfigError(`ecosystem.${key}`, 'is not a CDR route setting (versions, scopes)');
  const versions = data.versions;
  if (!Array.isArray(versions) || versions.length === 0 || !versions.every((v) => Number.isSafeInteger(v) && v >= 1) || new Set(versions).size !== versions.length)
    throw new ConfigError('ecosystem.versions', 'must list the x-v versions the upstream serves (distinct positive integers)');
  const scopes = methodScopes(data.scopes, route, 'ecosystem.scopes');
  return { versions: [...(versions as number[])].sort((a, b) => b - a), ...(scopes ? { scopes } : {}) };
}

/** The CDS conventions of a route (Consumer Data Standards, "Versioning", "HTTP Headers", "Error Codes"). */
export function cdsConventions(settings: CdsRouteSettings): ResourceConventions {
  return {
    ...(settings.scopes ? { scopesByMethod: settings.scopes } : {}),
    interactionId: cdsInteractionId,
    checkRequest: (request, exchange) => checkCdsRequest(request, exchange, settings.versions),
    readsGrant: true,
    authorize: ({ grant, exchange }) => {
      if (!grantLive(grant)) {
        const refusal = new CdsError(403, 'Authorisation/RevokedConsent', 'Consent Is Revoked', 'the arrangement has been revoked or has expired');
        refusal.audit = 'revoked_token_used';
        throw refusal;
      }
      const arrangement = (grant.extensions.cdr as { arrangementId?: unknown } | undefined)?.arrangementId;
      if (typeof arrangement === 'string') exchange.upstreamHeaders['x-authenticated-cdr-arrangement-id'] = arrangement;
    },
    renderError: renderCdsError,
  };
}

/** The CDR echoes the client's x-fapi-interaction-id whatever its form, and makes one when none came. */
export function cdsInteractionId(request: FastifyRequest): string {
  const sent = request.headers[INTERACTION_ID];
  return typeof sent === 'string' && sent !== '' && sent.length <= MAX_INTERACTION_ID ? sent : request.id;
}

function grantLive(grant: Grant | undefined): grant is Grant {
  return grant !== undefined && (grant.expiresAt === undefined || grant.expiresAt > Date.now() / 1000);
}

function checkCdsRequest(request: FastifyRequest, exchange: ResourceExchange, served: readonly number[]): void {
  const headers = request.headers;
  const queryAt = request.url.indexOf('?');
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  if (inCdsNamespace(path) && !isCdsEndpoint(path)) throw new CdsError(404, 'Resource/NotFound', 'Resource Not Found', 'no such CDS endpoint');
  if (!acceptsJson(single(headers.accept))) throw new CdsError(406, 'Header/Invalid', 'Not Acceptable', 'the API answers application/json only');
  exchange.upstreamHeaders['x-v'] = exchange.responseHeaders['x-v'] = String(negotiate(single(headers['x-v']), single(headers['x-min-v']), served));

  const authDate = single(headers['x-fapi-auth-date']);
  if (authDate === undefined || authDate === '') throw headerMissing('x-fapi-auth-date');
  if (!isHttpDate(authDate)) throw headerInvalid('x-fapi-auth-date', 'must be an HTTP date (e.g. Sun, 10 Sep 2017 19:43:31 GMT)');
  const customerIp = single(headers['x-fapi-customer-ip-address']);
  if (customerIp !== undefined && isIP(customerIp) === 0) throw headerInvalid('x-fapi-customer-ip-address', 'must be an IPv4 or IPv6 address');
  const clientHeaders = single(headers['x-cds-client-headers']);
  // The customer is present (their address is given): the headers of their own request must come too.
  if (clientHeaders === undefined && customerIp !== undefined) throw headerMissing('x-cds-client-headers');
  if (clientHeaders !== undefined && (clientHeaders === '' || !BASE64.test(clientHeaders))) throw headerInvalid('x-cds-client-headers', 'must be base64');
  const present = single(headers['x-fapi-end-user-present']);
  if (present !== undefined && present !== 'true' && present !== 'false') throw headerInvalid('x-fapi-end-user-present', 'must be true or false');
}

/**
 * CDS version negotiation: the highest version the route serves between `x-min-v` and `x-v` (an
 * `x-min-v` not below `x-v` counts as absent); none → 406.
 */
function negotiate(xv: string | undefined, xMinV: string | undefined, served: readonly number[]): number {
  if (xv === undefined || xv === '') throw headerMissing('x-v');
  if (!VERSION.test(xv)) throw new CdsError(400, 'Header/InvalidVersion', 'Invalid Version', 'x-v must be a positive integer');
  if (xMinV !== undefined && xMinV !== '' && !VERSION.test(xMinV)) throw new CdsError(400, 'Header/InvalidVersion', 'Invalid Version', 'x-min-v must be a positive integer');
  const highest = Number(xv);
  const lowest = xMinV !== undefined && xMinV !== '' && Number(xMinV) < highest ? Number(xMinV) : highest;
  const chosen = served.find((v) => v <= highest && v >= lowest);
  if (chosen === undefined)
    throw new CdsError(406, 'Header/UnsupportedVersion', 'Unsupported Version', `versions served: ${[...served].reverse().join(', ')}`);
  return chosen;
}

/** A header sent once; a repeated one (an array) counts as malformed. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
