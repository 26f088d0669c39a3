import type { FastifyRequest } from 'fastify';
import type { RouteConfig } from '../../../config/schema.js';
import { ConfigError } from '../../../config/config-error.js';
import { INTERACTION_ID } from '../../../gateway/fapi-headers.js';
import { acceptsJson, methodScopes, type ResourceConventions, type ResourceExchange } from '../../../gateway/resource-conventions.js';
import type { Grant } from '../../../grants/grant.js';
import { OfbError, renderOfbError } from './ofb-errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;
const PERMISSION = /^[A-Z][A-Z0-9_]*$/;
const SETTINGS = new Set(['permissions', 'version', 'scopes']);

/** What an OFB route declares under `ecosystem`: the consent permissions it needs, its API version, scopes per method. */
export interface OfbRouteSettings {
  permissions: string[];
  version: string;
  scopes?: Record<string, readonly string[]>;
}

/** The consent the Brazil pack attaches to a grant (`grant.extensions.brazil`). */
interface ConsentExtension {
  consentId?: unknown;
  permissions?: unknown;
  accountIds?: unknown;
}

export function ofbRouteSettings(route: RouteConfig): OfbRouteSettings | undefined {
  const data = route.ecosystem;
  if (data === undefined) return undefined;
  for (const key of Object.keys(data)) if (!SETTINGS.has(key)) throw new ConfigError(`ecosystem.${key}`, 'is not an Open Finance Brasil route setting (permissions, version, scopes)');
  const { permissions, version } = data;
  if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string' && PERMISSION.test(p)))
    throw new ConfigError('ecosystem.permissions', 'must list the consent permissions the route needs (e.g. ACCOUNTS_READ)');
  if (typeof version !== 'string' || !SEMVER.test(version)) throw new ConfigError('ecosystem.version', "must be the API's semantic version (e.g. 2.4.2)");
  const scopes = methodScopes(data.scopes, route, 'ecosystem.scopes');
  return { permissions: [...new Set(permissions as string[])], version, ...(scopes ? { scopes } : {}) };
}

/** The OFB conventions of a route: the consent behind the token grants the route's permissions. */
export function ofbConventions(settings: OfbRouteSettings): ResourceConventions {
  return {
    ...(settings.scopes ? { scopesByMethod: settings.scopes } : {}),
    checkRequest: (request, exchange) => checkOfbRequest(request, exchange, settings.version),
    readsGrant: true,
    authorize: ({ grant, exchange }) => {
      // A consent no longer AUTHORISED has had its grant ended: the token is no longer good (401).
      if (!grantLive(grant)) throw consentGone();
      const consent = grant.extensions.brazil as ConsentExtension | undefined;
      const granted = Array.isArray(consent?.permissions) ? consent.permissions : [];
      const missing = settings.permissions.filter((p) => !granted.includes(p));
      // A route that needs no permission (e.g. a client-credentials API) needs no consent either.
      if (settings.permissions.length === 0 && typeof consent?.consentId !== 'string') return;
      if (typeof consent?.consentId !== 'string' || missing.length > 0) {
        const refusal = new OfbError(403, 'PERMISSAO_INSUFICIENTE', 'Permissão insuficiente', `the consent does not grant ${missing.join(', ') || 'this API'}`);
        refusal.audit = 'consent_permission_refused';
        throw refusal;
      }
      exchange.upstreamHeaders['x-authenticated-consent-id'] = consent.consentId;
      if (Array.isArray(consent.accountIds)) exchange.upstreamHeaders['x-authenticated-account-ids'] = consent.accountIds.filter((id) => typeof id === 'string').join(',');
    },
    renderError: renderOfbError,
  };
}

function grantLive(grant: Grant | undefined): grant is Grant {
  return grant !== undefined && (grant.expiresAt === undefined || grant.expiresAt > Date.now() / 1000);
}

function consentGone(): OfbError {
  const description = 'the consent of this access token is no longer authorised';
  const refusal = new OfbError(401, 'NAO_AUTORIZADO', 'Não autorizado', description, { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` });
  refusal.audit = 'revoked_token_used';
  return refusal;
}

function checkOfbRequest(request: FastifyRequest, exchange: ResourceExchange, version: string): void {
  exchange.responseHeaders['x-v'] = exchange.upstreamHeaders['x-v'] = version;
  // Mandatory in OFB; when it is missing or malformed the answer carries the id the gateway made instead.
  const sent = request.headers[INTERACTION_ID];
  if (sent === undefined) throw new OfbError(400, 'PARAMETRO_NAO_INFORMADO', 'Parâmetro não informado', 'x-fapi-interaction-id is required');
  if (typeof sent !== 'string' || !UUID.test(sent)) throw new OfbError(400, 'PARAMETRO_INVALIDO', 'Parâmetro inválido', 'x-fapi-interaction-id must be a UUID (RFC 4122)');
  if (!acceptsJson(request.headers.accept)) throw new OfbError(406, 'NAO_ACEITAVEL', 'Formato não aceito', 'the API answers application/json only');
}
