import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Client } from '../../clients/client.js';
import type { GatewayContext } from '../../context.js';
import { methodNotAllowed, NO_STORE } from '../../http/error-handler.js';
import type { AuthorizationRequest, GrantManagementRequest } from '../../oauth/authorization-request.js';
import { invalidRequest, OAuthError } from '../../oauth/errors.js';
import { guard } from '../../tokens/guard.js';
import type { Grant } from '../grant.js';

/**
 * OpenID Grant Management for OAuth 2.0, for clients: `grant_management_action` at PAR, amending a
 * grant at approval, `grant_id` in token responses, and `/grants/{grant_id}` (query and revoke).
 * On where the profile's `grantManagement.enabled` says so.
 */
export const GRANTS_PATH = '/grants';
export const QUERY_SCOPE = 'grant_management_query';
export const REVOKE_SCOPE = 'grant_management_revoke';
const ACTIONS = new Set(['create', 'merge', 'replace']);
const GRANT_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const grantManagementEnabled = (ctx: Pick<GatewayContext, 'profile'>): boolean => ctx.profile.grantManagement?.enabled === true;

/** Discovery metadata (Grant Management §7). */
export function grantManagementMetadata(ctx: GatewayContext): Record<string, unknown> {
  if (!grantManagementEnabled(ctx)) return {};
  const base = ctx.config.discovery.plainEndpoints === 'public' ? ctx.config.issuer : ctx.urls.mtlsBase;
  return {
    grant_management_endpoint: base + GRANTS_PATH,
    grant_management_actions_supported: ['query', 'revoke', 'create', 'merge', 'replace'],
    grant_management_action_required: ctx.profile.grantManagement?.actionRequired === true,
  };
}

/**
 * At PAR: `grant_management_action` and `grant_id` (Grant Management §4). merge and replace name a
 * live grant of this client; whether it is the customer's is known only once the customer has
 * logged in (amendedGrant).
 */
export async function checkGrantManagementRequest(ctx: GatewayContext, params: Record<string, string>, client: Client, request: AuthorizationRequest): Promise<void> {
  if (!grantManagementEnabled(ctx)) return;
  const action = params.grant_management_action;
  const grantId = params.grant_id;
  if (action === undefined) {
    if (grantId !== undefined) throw invalidRequest('grant_id needs grant_management_action merge or replace');
    if (ctx.profile.grantManagement?.actionRequired) throw invalidRequest('grant_management_action is required');
    return;
  }
  if (!ACTIONS.has(action)) throw invalidRequest('grant_management_action must be create, merge or replace');
  if (action === 'create') {
    if (grantId !== undefined) throw invalidRequest('grant_id must not be sent with grant_management_action=create');
    request.grantManagement = { action: 'create' };
    return;
  }
  if (grantId === undefined) throw invalidRequest(`grant_management_action=${action} needs grant_id`);
  const grant = GRANT_ID.test(grantId) ? await ctx.grants.get(grantId) : undefined;
  if (!grant || grant.clientId !== client.id || grant.sub === grant.clientId) throw invalidGrantId();
  request.grantManagement = { action: action as GrantManagementRequest['action'], grantId };
}

/**
 * At approval of a merge or replace: the grant the customer gave this client before, holding what
 * it held and what was now approved (merge) or only what was now approved (replace). Same id, so the
 * client keeps managing one grant. Refused when that grant has ended meanwhile or is another customer's.
 */
export async function amendedGrant(ctx: GatewayContext, request: AuthorizationRequest, approved: Grant): Promise<Grant> {
  const { action, grantId } = request.grantManagement ?? {};
  if (grantId === undefined) return approved;
  const existing = await ctx.grants.get(grantId);
  if (!existing || existing.clientId !== approved.clientId || existing.sub !== approved.sub) throw invalidGrantId();
  const merge = action === 'merge';
  const amended: Grant & { accountIds?: string[] } = {
    ...approved,
    id: existing.id,
    createdAt: existing.createdAt,
    scope: merge ? [...new Set([...existing.scope.split(' '), ...approved.scope.split(' ')])].join(' ') : approved.scope,
    extensions: merge ? { ...existing.extensions, ...approved.extensions } : approved.extensions,
  };
  const accounts = [...((merge ? (existing as typeof amended).accountIds : undefined) ?? []), ...((approved as typeof amended).accountIds ?? [])];
  if (accounts.length) amended.accountIds = [...new Set(accounts)];
  if (existing.expiresAt !== undefined && approved.expiresAt === undefined && merge) amended.expiresAt = existing.expiresAt;
  return amended;
}

const invalidGrantId = () => new OAuthError('invalid_grant_id', 'grant_id is unknown, has ended, or is not for this client');

/** `GET` (query) and `DELETE` (revoke) `/grants/{grant_id}` for the client the grant belongs to (Grant Management §6). */
export function clientGrantRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  if (!grantManagementEnabled(ctx)) return;
  const count = (operation: string, outcome: string) => ctx.metrics?.grantManagement.inc({ surface: 'client', operation, outcome });
  const owned = async (request: FastifyRequest, scope: string, operation: string): Promise<Grant> => {
    const token = await guard(ctx, request, [scope]).catch((err: unknown) => {
      count(operation, 'refused');
      throw err;
    });
    const id = (request.params as { grantId: string }).grantId;
    const grant = GRANT_ID.test(id) ? await ctx.grants.get(id) : undefined;
    // Another client's grant is answered as an unknown one: its existence is not the caller's to learn.
    if (!grant || grant.clientId !== token.client_id || grant.sub === grant.clientId) {
      count(operation, 'not_found');
      request.log.info({ audit: `grant_${operation}`, client_id: token.client_id, grant_id: id, outcome: 'failure', reason: 'not_found' }, `grant_${operation}`);
      throw new OAuthError('invalid_grant_id', 'no such grant for this client', 404);
    }
    return grant;
  };
  app.get(`${GRANTS_PATH}/:grantId`, async (request, reply) => {
    const grant = await owned(request, QUERY_SCOPE, 'query');
    count('query', 'success');
    request.log.info({ audit: 'grant_query', client_id: grant.clientId, grant_id: grant.id, outcome: 'success' }, 'grant_query');
    const claims = [...new Set([...Object.keys(grant.claims?.userinfo ?? {}), ...Object.keys(grant.claims?.id_token ?? {})])];
    return reply
      .code(200)
      .headers(NO_STORE)
      .type('application/json')
      .send({ scopes: [{ scope: grant.scope }], ...(claims.length ? { claims } : {}) });
  });
  app.delete(`${GRANTS_PATH}/:grantId`, async (request, reply) => {
    const grant = await owned(request, REVOKE_SCOPE, 'revoke');
    await ctx.grants.end(grant.id, { event: 'revoked', by: 'client' });
    await ctx.grants.unindex(grant);
    count('revoke', 'success');
    request.log.info({ audit: 'grant_revoked', client_id: grant.clientId, sub: grant.sub, grant_id: grant.id, outcome: 'success', reason: 'revoked by the client' }, 'grant_revoked');
    return reply.code(204).headers(NO_STORE).send();
  });
  methodNotAllowed(app, `${GRANTS_PATH}/:grantId`, ['GET', 'DELETE']);
}
