import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../../context.js';
import { methodNotAllowed, NO_STORE } from '../../http/error-handler.js';
import { OAuthError } from '../../oauth/errors.js';
import { GrantManagement, type Initiator } from './grant-management.js';

export const ADMIN_PREFIX = '/admin/grants';

/** Grant ids are ours (base64url); a customer's subject and a client_id are bounded like everywhere else. */
const GRANT_ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_KEY = 255;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** Who called: a certificate's subject (admin listener) or a token's client (back channel), for the audit log. */
export type AdminCaller = (request: FastifyRequest) => Promise<string>;

/**
 * The bank's grant management API (docs/grant-management.yaml): a customer's or a client's grants,
 * one grant, its life trail, and its withdrawal. Every call is counted and audited.
 */
export function adminGrantRoutes(app: FastifyInstance, ctx: GatewayContext, caller: AdminCaller): void {
  const management = new GrantManagement(ctx);
  const count = (operation: string, outcome: string) => ctx.metrics?.grantManagement.inc({ surface: 'admin', operation, outcome });
  const audit = (request: FastifyRequest, event: string, fields: Record<string, unknown>) => request.log.info({ audit: event, surface: 'admin', ...fields }, event);

  app.get(ADMIN_PREFIX, async (request, reply) => {
    const by = await caller(request);
    const query = request.query as Record<string, unknown>;
    const sub = single(query.sub, 'sub');
    const clientId = single(query.client_id, 'client_id');
    const limit = limitOf(query.limit);
    if ((sub === undefined) === (clientId === undefined)) throw invalid('give exactly one of sub and client_id');
    const operation = sub !== undefined ? 'list_customer' : 'list_client';
    const grants = sub !== undefined ? await management.customerGrants(sub, limit) : await management.clientGrants(clientId!, limit);
    count(operation, 'success');
    audit(request, 'grants_listed', { ...(sub !== undefined ? { sub } : { client_id: clientId }), outcome: 'success', caller: by, count: grants.length });
    return send(reply, 200, { grants });
  });
  methodNotAllowed(app, ADMIN_PREFIX, ['GET']);

  app.get(`${ADMIN_PREFIX}/:grantId`, async (request, reply) => {
    const by = await caller(request);
    const id = grantIdOf(request);
    const grant = await management.grant(id);
    count('show', grant ? 'success' : 'not_found');
    audit(request, 'grant_read', { grant_id: id, ...(grant ? { client_id: grant.client_id, sub: grant.sub } : {}), outcome: grant ? 'success' : 'not_found', caller: by });
    if (!grant) throw notFound();
    return send(reply, 200, grant);
  });

  app.delete(`${ADMIN_PREFIX}/:grantId`, async (request, reply) => {
    const by = await caller(request);
    const id = grantIdOf(request);
    const initiator = initiatorOf((request.query as Record<string, unknown>).initiator);
    const grant = await management.withdraw(id, initiator, request.log);
    count('withdraw', grant ? 'success' : 'not_found');
    audit(request, 'grant_withdrawn', {
      grant_id: id,
      ...(grant ? { client_id: grant.client_id, sub: grant.sub } : {}),
      outcome: grant ? 'success' : 'not_found',
      reason: `withdrawn at the bank by the ${initiator}`,
      initiator,
      caller: by,
    });
    if (!grant) throw notFound();
    return reply.code(204).headers(NO_STORE).send();
  });
  methodNotAllowed(app, `${ADMIN_PREFIX}/:grantId`, ['GET', 'DELETE']);

  app.get(`${ADMIN_PREFIX}/:grantId/trail`, async (request, reply) => {
    const by = await caller(request);
    const id = grantIdOf(request);
    const events = await management.trail(id);
    count('trail', events ? 'success' : 'not_found');
    audit(request, 'grant_trail_read', { grant_id: id, outcome: events ? 'success' : 'not_found', caller: by });
    if (!events) throw notFound();
    return send(reply, 200, { grant_id: id, events });
  });
  methodNotAllowed(app, `${ADMIN_PREFIX}/:grantId/trail`, ['GET']);
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).headers(NO_STORE).type('application/json').send(body);
}

const invalid = (description: string) => new OAuthError('invalid_request', description, 400);
const notFound = () => new OAuthError('not_found', 'no such live grant', 404);

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY) throw invalid(`${name} must be given once, 1 to ${MAX_KEY} characters`);
  return value;
}

function limitOf(value: unknown): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const n = typeof value === 'string' && /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw invalid(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return n;
}

function grantIdOf(request: FastifyRequest): string {
  const id = (request.params as { grantId: string }).grantId;
  if (!GRANT_ID.test(id)) throw invalid('malformed grant id');
  return id;
}

function initiatorOf(value: unknown): Initiator {
  if (value === undefined) return 'bank';
  if (value === 'customer' || value === 'bank') return value;
  throw invalid('initiator must be customer or bank');
}
