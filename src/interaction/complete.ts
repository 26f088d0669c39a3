import type { FastifyReply } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import { discardCode, newCode, saveCode, type CodeRecord } from '../grants/authorization-code.js';
import { newGrantId, type Grant } from '../grants/grant.js';
import { amendedGrant } from '../grants/management/client-grant-management.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import type { PushedRequest } from '../oauth/par.js';
import { OAuthError } from '../oauth/errors.js';
import { RESPONSE_MODES } from '../oauth/response-modes.js';
import { RESPONSE_TYPES } from '../oauth/response-types/response-type.js';
import { errorPage, sendPage } from './pages.js';
import { rememberedConsent } from './routes.js';
import { chooseAcr } from '../authentication-context/acr.js';
import type { ConsentDecision, GrantCommit } from '../ecosystems/hooks.js';
import type { Authentication } from '../authentication-context/authentication.js';
import type { Interaction } from './interaction.js';

/**
 * How an authorization ends. An approval carries what happened at login (the `acr` values reached,
 * `amr`, claims the bank asserted: absent for built-in logins recorded before they were kept, which
 * then reach what the user directory says) and the customer's choices (granted scopes, accounts).
 */
export type Outcome =
  | ({ approved: true; sub: string; authTime: number; scope?: string; decision?: ConsentDecision } & Partial<Omit<Authentication, 'sub' | 'authTime'>>)
  | { approved: false; error: string; description: string };

/**
 * The interaction this step decided from was this replica's copy, and it has changed in the store
 * since (another replica moved it on): nothing was completed or written; the step is to be run again
 * from what the store holds.
 */
export class InteractionCopyOutdated extends Error {
  override readonly name = 'InteractionCopyOutdated';
}

/**
 * Ends an authorization: the pushed request is consumed atomically (so it completes once, whichever
 * replica or tab gets here first), then the client gets a code or an error at its redirect URI.
 * `pushed` is the request as read earlier in this step; an approval writes the code and its grant
 * (and the ecosystem's writes for it) in the same round trip as the consumption; when the consumption
 * finds nothing (completed elsewhere meanwhile), or the ecosystem refuses after all, they are deleted
 * unseen. The interaction shares the request's id and goes with it. `readAs`: the step decided from
 * this replica's copy of the interaction; the consumption happens only if the store still holds
 * exactly that, else InteractionCopyOutdated is thrown (with nothing sent or left written).
 */
export async function completeAuthorization(
  ctx: GatewayContext,
  reply: FastifyReply,
  parId: string,
  pushed: PushedRequest,
  outcome: Outcome,
  readAs?: { interaction: Interaction },
): Promise<FastifyReply> {
  const { request } = pushed;
  const client = await ctx.clients.get(request.clientId);
  const consumeRequest = async (): Promise<'taken' | 'gone' | 'outdated'> => {
    if (!readAs) {
      const [taken] = await Promise.all([ctx.store.consume<PushedRequest>('par', parId), ctx.store.delete('interaction', parId)]);
      return taken ? 'taken' : 'gone';
    }
    const ran = await ctx.store.sequence([
      { unchanged: 'interaction', id: parId, value: readAs.interaction },
      { take: 'par', id: parId },
      { take: 'interaction', id: parId },
    ]);
    return ran[0] === false ? 'outdated' : ran[1] === true ? 'taken' : 'gone';
  };
  if (!client) return completedPage(reply);
  const acr = outcome.approved ? chooseAcr(request, outcome.acr ?? ctx.users.acrReached(outcome.sub, ctx.profile)) : undefined;
  if (acr && 'unmet' in acr) {
    reply.log.warn({ audit: 'acr_unmet', clientId: client.id }, 'acr_unmet');
    outcome = { approved: false, error: 'access_denied', description: acr.unmet };
  }
  /** `consumed`: the request was consumed already (with an approval's writes that were then refused). */
  const deny = async (error: string, description: string, consumed = false) => {
    if (!consumed) {
      const taken = await consumeRequest();
      if (taken === 'outdated') throw new InteractionCopyOutdated();
      if (taken === 'gone') return completedPage(reply);
    }
    await ctx.hooks.onAuthorizationDenied?.({ request, client, error });
    ctx.metrics?.authorizations.inc({ outcome: 'denied' });
    reply.log.info({ audit: 'authorization_denied', client_id: client.id, outcome: 'failure', reason: error }, 'authorization_denied');
    return redirect(ctx, reply, client, request, { error, error_description: description });
  };
  if (!outcome.approved) return deny(outcome.error, outcome.description);
  // An approval remembered from earlier (no page shown): the accounts chosen then go with it.
  if (!outcome.decision && ctx.pages.accounts) {
    const remembered = await rememberedConsent(ctx, client.id, outcome.sub);
    if (remembered?.accountIds?.length) outcome = { ...outcome, decision: { accountIds: remembered.accountIds } };
  }

  let grant: Grant = {
    id: newGrantId(),
    clientId: client.id,
    sub: outcome.sub,
    scope: outcome.scope ?? request.scope,
    authTime: outcome.authTime,
    createdAt: Math.floor(Date.now() / 1000),
    extensions: { ...request.extensions },
  };
  if (acr && 'acr' in acr && acr.acr !== undefined) grant.acr = acr.acr;
  if (outcome.amr?.length) grant.amr = outcome.amr;
  if (outcome.claims && Object.keys(outcome.claims).length) grant.userClaims = outcome.claims;
  if (request.claims) grant.claims = request.claims;
  if (outcome.decision?.accountIds?.length) grant.accountIds = outcome.decision.accountIds;
  // OpenID Grant Management: a merge or replace amends the grant the customer gave this client before.
  const amending = request.grantManagement?.grantId !== undefined;
  // The ecosystem refused what was approved (amending another customer's arrangement, a consent
  // that ended meanwhile): the client hears why.
  const refused = (err: OAuthError, consumed = false) => {
    reply.log.warn({ audit: err.audit ?? 'authorization_refused', clientId: client.id, reason: err.description }, err.audit ?? 'authorization_refused');
    return deny(err.error, err.description, consumed);
  };
  let commit: GrantCommit | void;
  try {
    if (amending) grant = await amendedGrant(ctx, request, grant);
    commit = await ctx.hooks.onGrantCreated?.({ grant, request, client, ...(outcome.decision ? { decision: outcome.decision } : {}) });
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    return refused(err);
  }
  const code = newCode();
  const record: CodeRecord = {
    grantId: grant.id,
    grant,
    clientId: client.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: grant.scope,
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(request.dpopJkt !== undefined ? { dpopJkt: request.dpopJkt } : {}),
  };
  // One round trip: the consumption, the code, the grant and the ecosystem's writes for it.
  const [consumed, saved, committed] = await Promise.allSettled([
    consumeRequest(),
    Promise.all([saveCode(ctx, code, record), amending ? ctx.grants.amend(grant) : ctx.grants.save(grant)]),
    commit?.(),
  ]);
  const completed = consumed.status === 'fulfilled' && consumed.value === 'taken';
  if (!completed || saved.status === 'rejected' || committed.status === 'rejected') {
    // Nobody has seen the code; a grant without a code has no tokens. Best effort when the store fails.
    // An amended grant was live before and stays (its amendment is what the customer approved).
    await Promise.allSettled([discardCode(ctx, code), amending ? undefined : ctx.grants.discard(grant.id)]);
    if (consumed.status === 'rejected') throw consumed.reason;
    if (saved.status === 'rejected') throw saved.reason;
    if (committed.status === 'rejected') {
      if (!(committed.reason instanceof OAuthError)) throw committed.reason;
      // Refused after all, the request consumed: the client hears why (unless the request was
      // completed elsewhere meanwhile, and that completion answered it).
      if (completed) return refused(committed.reason, true);
    }
    if (consumed.value === 'outdated') throw new InteractionCopyOutdated();
    return completedPage(reply);
  }
  ctx.metrics?.authorizations.inc({ outcome: 'approved' });
  reply.log.info({ audit: 'authorization_approved', client_id: client.id, sub: ctx.subjects.forClient(client, grant.sub), grant_id: grant.id, scope: grant.scope }, 'authorization_approved');
  // What comes back besides the code is the response type's (src/oauth/response-types): an ID token for the hybrid flow.
  let response: Record<string, string>;
  try {
    response = await RESPONSE_TYPES[request.responseType].approvedResponse({ ctx, client, request, grant, code });
  } catch (err) {
    // The response cannot be made (the client's encryption key is unreachable): its code must not stay redeemable.
    await Promise.allSettled([discardCode(ctx, code), amending ? undefined : ctx.grants.discard(grant.id)]);
    throw err;
  }
  return redirect(ctx, reply, client, request, response);
}

function completedPage(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 400, 'Request completed', errorPage('invalid_request_uri', 'This authorization request has already been completed or has expired.', { situation: 'completed' }));
}

/**
 * Sends the authorization response to the registered redirect URI, with `iss` (RFC 9207) and
 * `state`, encoded by the request's response mode (a JARM mode carries them inside its JWT).
 */
export async function redirect(
  ctx: GatewayContext,
  reply: FastifyReply,
  client: Client,
  request: AuthorizationRequest,
  params: Record<string, string>,
): Promise<FastifyReply> {
  const response: Record<string, string> = { ...params };
  if (request.state !== undefined) response.state = request.state;
  response.iss = ctx.urls.issuer;
  const mode = request.responseMode;
  let location: string;
  try {
    location = await RESPONSE_MODES[mode]({ ctx, client, redirectUri: request.redirectUri, params: response });
  } catch (err) {
    // The response cannot be protected as the client registered (its encryption key is missing or
    // unreachable): it is not sent at all, and the browser sees why.
    if (err instanceof OAuthError && err.audit) reply.log.warn({ audit: err.audit, clientId: client.id, reason: err.description }, err.audit);
    throw err;
  }
  ctx.metrics?.authorizationResponses.inc({ mode, kind: params.code !== undefined ? 'code' : 'error' });
  return reply.code(303).headers({ location, 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' }).send();
}
