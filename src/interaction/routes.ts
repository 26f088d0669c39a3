import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addressKey, clientAddress } from '../http/client-address.js';
import type { GatewayContext } from '../context.js';
import { formParams } from '../http/form-body.js';
import type { PushedRequest } from '../oauth/par.js';
import { completeAuthorization } from './complete.js';
import { acceptLanguage, chosenAccounts, detailsLanguage, detailsView, loginRefusal, NO_ACCOUNT_CHOSEN } from './ecosystem-steps.js';
import { csrfValid, findInteraction, loginOf, saveInteraction, startSession, type Interaction } from './interaction.js';
import { consentPage, describeScopes, errorPage, loginPage, sendPage, STYLESHEET, STYLESHEET_PATH, totpPage } from './pages.js';
import type { Authentication } from '../authentication-context/authentication.js';
import { builtInAuthentication } from '../authentication-context/built-in.js';
import type { LoginAttempt } from '../users/password-login.js';

export const INTERACTION_PREFIX = '/interaction';

/** The login and consent pages; they work without JavaScript. */
export function interactionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get(STYLESHEET_PATH, (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET));

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

  app.post<{ Params: { uid: string } }>(`${INTERACTION_PREFIX}/:uid/consent`, async (request, reply) => {
    const found = await checkedInteraction(ctx, request, reply);
    if (!found) return reply;
    const { interaction, pushed, form } = found;
    if (ctx.config.interaction.mode === 'external') return notHere(reply);
    if (interaction.sub === undefined || interaction.authTime === undefined) return showInteraction(ctx, reply, interaction, pushed);
    if (form.decision === 'approve') {
      const client = await ctx.clients.get(interaction.clientId);
      const details = client ? await ctx.hooks.consentDetails?.({ request: pushed.request, client, sub: interaction.sub }) : undefined;
      const decision = details ? chosenAccounts(details, form) : undefined;
      if (details?.accounts?.length && !decision?.accountIds?.length) return showInteraction(ctx, reply, interaction, pushed, { noAccountChosen: true });
      // Sent with the completion's writes. A convenience only: if it fails, the user is asked again next time
      // (and it must not fail a reply that completion has already sent).
      const remembering =
        !ctx.profile.consent.everyTime && ctx.profile.lifetimes.session > 0
          ? ctx.store.set('consent', consentKey(interaction.clientId, interaction.sub), { scope: pushed.request.scope }, ctx.profile.lifetimes.session).catch(() => undefined)
          : undefined;
      const [completed] = await Promise.all([
        completeAuthorization(ctx, reply, interaction.parId, pushed, { approved: true, ...loginOf(interaction), ...(decision ? { decision } : {}) }),
        remembering,
      ]);
      return completed;
    }
    return completeAuthorization(ctx, reply, interaction.parId, pushed, { approved: false, error: 'access_denied', description: 'the user denied the request' });
  });
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
  if (interaction.sub === undefined && interaction.totpPending !== undefined)
    return sendPage(reply, login.status ?? 200, 'Enter your code', totpPage({ action: `${base}/totp`, csrf: interaction.csrf, clientName: client.name, ...(login.error ? { error: login.error } : {}) }), formTargets);
  if (interaction.sub === undefined)
    return sendPage(reply, login.status ?? 200, 'Sign in', loginPage({ action: `${base}/login`, csrf: interaction.csrf, clientName: client.name, ...login }), formTargets);
  const user = ctx.users.bySub(interaction.sub!);
  const details = await ctx.hooks.consentDetails?.({ request: pushed.request, client, sub: interaction.sub! });
  const lang = details ? detailsLanguage(details, pushed.request, acceptLanguage(reply.request)) : 'en';
  const view = details ? detailsView(details, lang, options.noAccountChosen ? (NO_ACCOUNT_CHOSEN[lang] ?? NO_ACCOUNT_CHOSEN.en) : undefined) : undefined;
  return sendPage(
    reply,
    options.noAccountChosen ? 400 : 200,
    view?.text.heading ?? 'Allow access',
    consentPage({
      action: `${base}/consent`,
      csrf: interaction.csrf,
      clientName: client.name,
      userName: String(user?.claims.name ?? user?.username ?? interaction.claims?.name ?? interaction.sub),
      scopes: describeScopes(pushed.request.scope).filter((s) => !ctx.hooks.isDynamicScope?.(s.name)),
      ...(view ? { details: view } : {}),
    }),
    formTargets,
    lang,
  );
}

const consentKey = (clientId: string, sub: string) => `${clientId}\u0000${sub}`;

/** Where the profile does not ask every time: an earlier approval of at least these scopes stands, unless prompt=consent. */
export async function consentRemembered(ctx: GatewayContext, sub: string, pushed: PushedRequest): Promise<boolean> {
  if (ctx.profile.consent.everyTime || pushed.request.prompt?.includes('consent')) return false;
  const remembered = await ctx.store.get<{ scope: string }>('consent', consentKey(pushed.request.clientId, sub));
  if (!remembered) return false;
  const granted = new Set(remembered.scope.split(' '));
  return pushed.request.scope.split(' ').every((s) => granted.has(s));
}

async function checkedInteraction(
  ctx: GatewayContext,
  request: FastifyRequest<{ Params: { uid: string } }>,
  reply: FastifyReply,
): Promise<{ interaction: Interaction; pushed: PushedRequest; form: Record<string, string> } | undefined> {
  const found = await findInteraction(ctx, request, request.params.uid);
  if (found.found !== 'live') {
    notLive(reply, found.found);
    return undefined;
  }
  const { interaction, pushed } = found;
  const form = formParams(request);
  if (!csrfValid(interaction, form.csrf)) {
    request.log.warn({ event: 'csrf_mismatch', client_id: interaction.clientId }, 'interaction form without a valid CSRF token');
    sendPage(reply, 403, 'Request refused', errorPage('invalid_request', 'This form has expired or did not come from this site. Start again from the application.'));
    return undefined;
  }
  return { interaction, pushed, form };
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
  if (attempt.outcome === 'throttled') {
    request.log.warn({ audit: 'login_throttled', scope: attempt.scope, step, client_id: interaction.clientId }, 'login_throttled');
    reply.header('retry-after', String(attempt.retryAfterSeconds));
    const error = `Too many failed sign-in attempts. Wait ${waitText(attempt.retryAfterSeconds)} and try again.`;
    return showInteraction(ctx, reply, interaction, pushed, { login: { ...login, error, status: 429 } });
  }
  request.log.warn({ audit: 'login_failed', step, client_id: interaction.clientId }, 'login_failed');
  const error = step === 'totp' ? 'The code is incorrect or was already used.' : 'The username or password is incorrect.';
  return showInteraction(ctx, reply, interaction, pushed, { login: { ...login, error, status: 401 } });
}

function waitText(seconds: number): string {
  return seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
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
  return sendPage(reply, 404, 'Not found', errorPage('invalid_request', 'Sign-in happens at the bank. Start again from the application.'));
}

/** The page for an interaction that is not live in this browser. */
export function notLive(reply: FastifyReply, why: 'gone' | 'elsewhere'): FastifyReply {
  if (why === 'gone')
    return sendPage(reply, 400, 'Request completed', errorPage('invalid_request_uri', 'This authorization request has already been completed (perhaps in another tab) or has expired.'));
  return sendPage(reply, 400, 'Session expired', errorPage('invalid_request', 'This sign-in has expired or was opened in another browser. Start again from the application.'));
}
