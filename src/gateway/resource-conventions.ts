import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteConfig } from '../config/schema.js';
import { ConfigError } from '../config/config-error.js';
import type { EcosystemHooks } from '../ecosystems/hooks.js';
import type { Grant } from '../grants/grant.js';
import type { OAuthError } from '../oauth/errors.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';

/** What a route's conventions add to one request on its way through: filled in by the checks. */
export interface ResourceExchange {
  /** Sent to the upstream besides the gateway's own headers (a client's copy of the same name is replaced). */
  readonly upstreamHeaders: Record<string, string>;
  /** Carried by every response to the request, the upstream's answer and the gateway's errors alike; they win over both. */
  readonly responseHeaders: Record<string, string>;
}

/**
 * An ecosystem's rules for one resource route (API versions, consent permissions, its error envelope),
 * decided once at start from the route's `ecosystem` data. Every member is optional; a route without
 * conventions is proxied exactly as the FAPI 2.0 baseline does it.
 */
export interface ResourceConventions {
  /** Scopes a method needs, replacing the route's `scopes` for the methods named. */
  scopesByMethod?: Readonly<Record<string, readonly string[]>>;
  /** The route's x-fapi-interaction-id: sent upstream and on every response (default: a UUID sent by the client, or a new one). */
  interactionId?(request: FastifyRequest): string;
  /** First, before the access token is looked at: check and negotiate the request's headers; throw an OAuthError to refuse. */
  checkRequest?(request: FastifyRequest, exchange: ResourceExchange): void;
  /** `authorize` needs the token's grant (one store read a request): it gets undefined when the grant is gone. */
  readsGrant?: boolean;
  /** After the token is verified and bound: check it and its grant (consent, permissions); throw an OAuthError to refuse. */
  authorize?(input: { request: FastifyRequest; claims: AccessTokenClaims; grant: Grant | undefined; exchange: ResourceExchange }): void;
  /**
   * Answers every error on the route, whatever raised it (the token guard, the checks above, an unknown
   * method, a body too large, the upstream failing, the rate limit, load shedding): status, body and
   * headers in the ecosystem's envelope. The error's own headers (WWW-Authenticate, Retry-After, Allow)
   * must be kept.
   */
  renderError?(reply: FastifyReply, error: OAuthError): FastifyReply;
}

/** Route options `config` of a route whose errors are rendered by its conventions (read by sendOAuthError). */
export interface ErrorRenderingConfig {
  renderError?: (reply: FastifyReply, error: OAuthError) => FastifyReply;
}

const decided = new WeakMap<RouteConfig, ResourceConventions | undefined>();

/**
 * Asks the ecosystem pack for each route's conventions, once: a route's `ecosystem` data is the pack's
 * to validate, and a mistake in it names the route (`routes[i].ecosystem.<key>`).
 */
export function decideConventions(routes: readonly RouteConfig[], hooks: EcosystemHooks): void {
  routes.forEach((route, i) => {
    if (route.ecosystem !== undefined && !hooks.resourceConventions)
      throw new ConfigError(`routes[${i}].ecosystem`, "the profile's ecosystem pack takes no route settings");
    try {
      decided.set(route, hooks.resourceConventions?.(route));
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`routes[${i}].${err.keyPath || 'ecosystem'}`, err.problem);
      throw err;
    }
  });
}

/** The conventions decided for a route at start (none for a route the pack passed over). */
export function conventionsOf(route: RouteConfig): ResourceConventions | undefined {
  return decided.get(route);
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A route's per-method scopes as a pack reads them from its `ecosystem` data (`{ GET: [...], POST: [...] }`),
 * for `scopesByMethod`; `keyPath` names the setting in a ConfigError. Only the route's methods may be named.
 */
export function methodScopes(value: unknown, route: RouteConfig, keyPath: string): Record<string, readonly string[]> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(keyPath, 'must map HTTP methods to lists of scopes');
  const scopes: Record<string, readonly string[]> = {};
  for (const [method, list] of Object.entries(value)) {
    if (!METHODS.has(method) || !route.methods.includes(method as never)) throw new ConfigError(`${keyPath}.${method}`, `is not one of the route's methods (${route.methods.join(', ')})`);
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0 && !s.includes(' ')))
      throw new ConfigError(`${keyPath}.${method}`, 'must be a list of scopes');
    scopes[method] = [...list];
  }
  // Fastify answers HEAD through the GET route: it needs what GET needs.
  if (scopes.GET && !scopes.HEAD) scopes.HEAD = scopes.GET;
  return scopes;
}

/** Whether an Accept header allows a JSON answer (absent, `*\/*`, `application/*` or `application/json`, q > 0). */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && !(Number(q.slice(2)) > 0)) return false;
    return type === '*/*' || type === 'application/*' || type === 'application/json';
  });
}
