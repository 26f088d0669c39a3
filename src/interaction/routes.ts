import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addressKey, clientAddress } from '../http/client-address.js';
import type { GatewayContext } from '../context.js';
import { formParams } from '../http/form-body.js';
import type { PushedRequest } from '../oauth/par.js';
import { completeAuthorization, InteractionCopyOutdated, type Outcome } from './complete.js';
import { chosenAccounts, loginRefusal } from './ecosystem-steps.js';
import { csrfValid, findInteraction, loginOf, saveInteraction, startSession, type Interaction } from './interaction.js';
import { consentPage, errorPage, loginPage, pageLanguage, sendPage, totpPage, waitText } from './pages.js';
import { clientShown, howLong, offeredAccounts, whatIsAsked } from './consent-view.js';
import { assetRoutes } from './ui/assets.js';
import { AccountsUnavailable } from './ui/bank-accounts.js';
import type { Authentication } from '../authentication-context/authentication.js';
import { builtInAuthentication } from '../authentication-context/built-in.js';
import type { LoginAttempt } from '../users/password-login.js';

export const INTERACTION_PREFIX = '/interaction';

/** The login and consent pages; they work without JavaScript. */
export function interactionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  assetRoutes(app, ctx);

  app.get<{ Params: { uid: string } }>(`${INTERACTION_PREFIX}/:uid`, async (request, reply) => {
    const found = await findInteraction(ctx, request, request.params.uid);
    if (found.found !== 'live') return notLive(reply, found.found);
    return showInteraction(ctx, reply, found.interaction, found.pushed);
  });

  app.post<{ Params: { uid: string } }>(`${INTERACTION_PREFIX}/:uid/login`, async (request, reply) => {
    if (ctx.config.interaction.mode !== 'builtin') return notHere(reply);
    const found = await checkedInteraction(ctx, request, reply);
    if (!found) return reply;
    const { interaction, pushed, form } = found;
    if (form.action === 'cancel')
      return completeAuthorization(ctx, reply, interaction.parId, pushed, { approved: false, error: 'access_denied', description: 'the user cancelled the sign-in' });
    // The browser's address as the rate limits see it: behind a trusted proxy the forwarded one, an IPv6 /64 as one.
    const attempt = await ctx.login.attempt(form.username ?? '', form.password ?? '', addressKey(clientAddress(request, ctx.trustedProxies)));
    if (attempt.outcome !== 'succeeded') return loginRefused(ctx, request, reply, interaction, pushed, attempt, { username: form.username });
    const { user } = attempt;
    if (user.totp) {
      await saveInteraction(ctx, { ...interaction, totpPending: user.sub });
      return reply.code(303).header('location', `${INTERACTION_PREFIX}/${interaction.parId}`).header('cache-control', 'no-store').send();
    }
    return signedIn(ctx, request, reply, interaction, builtInAuthentication(ctx, user, false));
  });

  app.post<{ Params: { uid: string } }>(`${INTERACTION_PREFIX}/:uid/totp`, async (request, reply) => {
    if (ctx.config.interaction.mode !== 'builtin') return notHere(reply);
    const found = await checkedInteraction(ctx, request, reply);
    if (!found) return reply;
    const { interaction, pushed, form } = found;
    if (form.action === 'cancel')
      return completeAuthorization(ctx, reply, interaction.parId, pushed, { approved: false, error: 'access_denied', description: 'the user cancelled the sign-in' });
    const user = interaction.totpPending === undefined ? undefined : ctx.users.bySub(interaction.totpPending);
    if (!user) return showInteraction(ctx, reply, interaction, pushed);
    const attempt = await ctx.login.secondFactor(user, form.code ?? '', addressKey(clientAddress(request, ctx.trustedProxies)));
    if (attempt.outcome !== 'succeeded') return loginRefused(ctx, request, reply, interaction, pushed, attempt, {});
    return signedIn(ctx, request, reply, interaction, builtInAuthentication(ctx, user, true));
  });

  /**
   * The customer's decision. It ends the authorization, so it may decide from this replica's copies
   * of the interaction and the request (no read): the completion consumes the request only if the
   * interaction is still what was copied. Anything else (a page to show again, an interaction moved
   * on elsewhere) runs from what the store holds.
   */
  const consent = async (request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply, copies: boolean): Promise<unknown> => {
    const found = await checkedInteraction(ctx, request, reply, copies);
    if (!found) return reply;
    const { interaction, pushed, form, copied } = found;
    if (ctx.config.interaction.mode === 'external') return notHere(reply);
    const afresh = (): Promise<unknown> => consent(request, reply, false);
    const readAs = copied ? { interaction } : undefined;
    const complete = (outcome: Outcome): Promise<unknown> =>
      completeAuthorization(ctx, reply, interaction.parId, pushed, outcome, readAs).catch((err: unknown) => {
        if (err instanceof InteractionCopyOutdated) return afresh();
        throw err;
      });
    if (interaction.sub === undefined || interaction.authTime === undefined) return copied ? afresh() : showInteraction(ctx, reply, interaction, pushed);
    if (form.decision === 'approve') {
      const client = await ctx.clients.get(interaction.clientId);
      const details = client ? await ctx.hooks.consentDetails?.({ request: pushed.request, client, sub: interaction.sub }) : undefined;
      // What this page offered: the pack's accounts (asked again), else the bank's list kept when the page was shown.
      const offered = details?.accounts ?? interaction.accounts;
      const decision = offered ? chosenAccounts(offered, form) : details ? { accountIds: [] } : undefined;
      if (offered?.length && !decision?.accountIds?.length) return copied ? afresh() : showInteraction(ctx, reply, interaction, pushed, { noAccountChosen: true });
      // Sent with the completion's writes. A convenience only: if it fails, the user is asked again next time
      // (and it must not fail a reply that completion has already sent).
      const remembers = !ctx.profile.consent.everyTime && ctx.profile.lifetimes.session > 0;
      // The remembered consent is written beside the completion, not behind its guard: only from what the store holds.
      if (remembers && copied) return afresh();
      const remembering = remembers
        ? ctx.store
            .set('consent', consentKey(interaction.clientId, interaction.sub), { scope: pushed.request.scope, ...(decision?.accountIds?.length ? { accountIds: decision.accountIds } : {}) }, ctx.profile.lifetimes.session)
            .catch(() => undefined)
        : undefined;
      request.log.info(
        { audit: 'consent_approved', client_id: interaction.clientId, sub: interaction.sub, interaction_id: interaction.parId, outcome: 'success', accounts: decision?.accountIds?.length ?? 0 },
        'consent_approved',
      );
      const [completed] = await Promise.all([complete({ approved: true, ...loginOf(interaction), ...(decision ? { decision } : {}) }), remembering]);
      return completed;
    }
    request.log.info({ audit: 'consent_denied', client_id: interaction.clientId, sub: interaction.sub, interaction_id: interaction.parId, outcome: 'denied' }, 'consent_denied');
    return complete({ approved: false, error: 'access_denied', description: 'the user denied the request' });
  };
  app.post<{ Params: { uid: string } }>(`${INTERACTION_PREFIX}/:uid/consent`, (request, reply) => consent(request, reply, true));
}

/** Renders the step the interaction is at: login until a user is known, then consent. */
export async function showInteraction(
  ctx: GatewayContext,
  reply: FastifyReply,
  interaction: Interaction,
  pushed: PushedRequest,
  options: { login?: { username?: string; error?: string; status?: number }; noAccountChosen?: boolean } = {},
): Promise<FastifyReply> {
  const login = options.login ?? {};
  const client = await ctx.clients.get(interaction.clientId);
  if (!client) return notLive(reply, 'gone');
  if (interaction.sub !== undefined && interaction.authTime !== undefined) {
    // Whichever way the customer signed in (this form, a session), the pack may refuse them.
    const refused = await loginRefusal(ctx, client, pushed.request, interaction.sub, interaction.claims);
    if (refused) return completeAuthorization(ctx, reply, interaction.parId, pushed, refused);
  }
  if (interaction.sub !== undefined && interaction.authTime !== undefined && (await consentRemembered(ctx, interaction.sub, pushed)))
    return completeAuthorization(ctx, reply, interaction.parId, pushed, { approved: true, ...loginOf(interaction) });
  // The bank's login (its app, or its identity provider) takes over where the built-in pages would show.
  if (ctx.config.interaction.mode !== 'builtin' && (interaction.sub === undefined || ctx.config.interaction.mode === 'external'))
    return ctx.bankLogin!.begin(reply, interaction, pushed);
  const formTargets = [new URL(pushed.request.redirectUri).origin];
  const base = `${INTERACTION_PREFIX}/${interaction.parId}`;
  const lang = pageLanguage(reply, pushed.request.uiLocales);
  if (interaction.sub === undefined && interaction.totpPending !== undefined)
    return sendPage(reply, login.status ?? 200, '', totpPage({ action: `${base}/totp`, csrf: interaction.csrf, clientName: client.name, ...(login.error ? { error: login.error } : {}) }), formTargets, lang);
  if (interaction.sub === undefined)
    return sendPage(reply, login.status ?? 200, '', loginPage({ action: `${base}/login`, csrf: interaction.csrf, clientName: client.name, ...login }), formTargets, lang);
  const sub = interaction.sub;
  const user = ctx.users.bySub(sub);
  const t = ctx.pages.ui.catalogue(lang);
  const details = await ctx.hooks.consentDetails?.({ request: pushed.request, client, sub });
  let offered;
  try {
    offered = await offeredAccounts(ctx, sub, details, reply.log);
  } catch (err) {
    if (!(err instanceof AccountsUnavailable)) throw err;
    reply.header('retry-after', '5');
    return sendPage(reply, 503, '', errorPage('temporarily_unavailable', 'the list of accounts could not be read from the bank', { situation: 'accountsUnavailable', client: { name: client.name, ...(client.metadata.client_uri ? { website: client.metadata.client_uri } : {}) } }), [], lang);
  }
  // The bank's list is kept with the interaction: the choice posted back is checked against what was shown.
  if (offered && !details?.accounts) await saveInteraction(ctx, { ...interaction, accounts: offered });
  return sendPage(
    reply,
    options.noAccountChosen ? 400 : 200,
    '',
    consentPage({
      action: `${base}/consent`,
      csrf: interaction.csrf,
      client: await clientShown(ctx, client, reply.log),
      customer: String(user?.claims.name ?? user?.username ?? interaction.claims?.name ?? sub),
      groups: whatIsAsked(ctx, pushed.request, details, t, lang),
      duration: howLong(ctx, client, details, t),
      ...(offered ? { accounts: { offered, ...(options.noAccountChosen ? { error: t.consent.noAccountChosen } : {}) } } : {}),
    }),
    formTargets,
    lang,
  );
}

const consentKey = (clientId: string, sub: string) => `${clientId}\u0000${sub}`;

/** An earlier approval kept for the session's length (profiles that do not ask every time): its scopes and the accounts chosen then. */
export function rememberedConsent(ctx: GatewayContext, clientId: string, sub: string): Promise<{ scope: string; accountIds?: string[] } | undefined> {
  return ctx.store.get<{ scope: string; accountIds?: string[] }>('consent', consentKey(clientId, sub));
}

/** Where the profile does not ask every time: an earlier approval of at least these scopes stands, unless prompt=consent. */
export async function consentRemembered(ctx: GatewayContext, sub: string, pushed: PushedRequest): Promise<boolean> {
  if (ctx.profile.consent.everyTime || pushed.request.prompt?.includes('consent')) return false;
  const remembered = await rememberedConsent(ctx, pushed.request.clientId, sub);
  if (!remembered) return false;
  const granted = new Set(remembered.scope.split(' '));
  return pushed.request.scope.split(' ').every((s) => granted.has(s));
}

async function checkedInteraction(
  ctx: GatewayContext,
  request: FastifyRequest<{ Params: { uid: string } }>,
  reply: FastifyReply,
  copies = false,
): Promise<{ interaction: Interaction; pushed: PushedRequest; form: Record<string, string>; copied?: true } | undefined> {
  const found = await findInteraction(ctx, request, request.params.uid, copies);
  if (found.found !== 'live') {
    notLive(reply, found.found);
    return undefined;
  }
  const { interaction, pushed } = found;
  const form = formParams(request);
  if (!csrfValid(interaction, form.csrf)) {
    request.log.warn({ event: 'csrf_mismatch', client_id: interaction.clientId }, 'interaction form without a valid CSRF token');
    sendPage(reply, 403, 'Request refused', errorPage('invalid_request', 'the form carried no valid CSRF token', { situation: 'formExpired' }), [], pageLanguage(reply, pushed.request.uiLocales));
    return undefined;
  }
  return { interaction, pushed, form, ...(found.copied ? { copied: true as const } : {}) };
}

/** A failed or throttled login step: the form again, saying why (a locked user is told to wait, not that the password is wrong). */
function loginRefused(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  interaction: Interaction,
  pushed: PushedRequest,
  attempt: Exclude<LoginAttempt, { outcome: 'succeeded' }>,
  login: { username?: string },
): Promise<FastifyReply> {
  const step = interaction.totpPending === undefined ? 'password' : 'totp';
  const t = ctx.pages.ui.catalogue(pageLanguage(reply, pushed.request.uiLocales));
  if (attempt.outcome === 'throttled') {
    request.log.warn({ audit: 'login_throttled', scope: attempt.scope, step, client_id: interaction.clientId }, 'login_throttled');
    reply.header('retry-after', String(attempt.retryAfterSeconds));
    const error = t.signIn.throttled(waitText(t, attempt.retryAfterSeconds));
    return showInteraction(ctx, reply, interaction, pushed, { login: { ...login, error, status: 429 } });
  }
  request.log.warn({ audit: 'login_failed', step, client_id: interaction.clientId }, 'login_failed');
  const error = step === 'totp' ? t.totp.incorrect : t.signIn.incorrect;
  return showInteraction(ctx, reply, interaction, pushed, { login: { ...login, error, status: 401 } });
}

/** A login is recorded: in the interaction (the consent step follows) and in a browser session. */
async function signedIn(ctx: GatewayContext, _request: FastifyRequest, reply: FastifyReply, interaction: Interaction, login: Authentication): Promise<FastifyReply> {
  await startSession(ctx, reply, login);
  const { totpPending: _done, ...rest } = interaction;
  await saveInteraction(ctx, { ...rest, ...login });
  // Post/redirect/get: reloading the consent page does not resubmit the password.
  return reply.code(303).header('location', `${INTERACTION_PREFIX}/${interaction.parId}`).header('cache-control', 'no-store').send();
}

/** The built-in login forms in a mode where the bank signs customers in. */
function notHere(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 404, 'Not found', errorPage('invalid_request', 'the built-in sign-in is not used in this deployment', { situation: 'signInAtBank' }));
}

/** The page for an interaction that is not live in this browser. */
export function notLive(reply: FastifyReply, why: 'gone' | 'elsewhere'): FastifyReply {
  if (why === 'gone')
    return sendPage(reply, 400, 'Request completed', errorPage('invalid_request_uri', 'the authorization request is completed or expired', { situation: 'completed' }));
  return sendPage(reply, 400, 'Session expired', errorPage('invalid_request', 'the interaction is not bound to this browser', { situation: 'elsewhere' }));
}
