import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { completeAuthorization, redirect } from '../interaction/complete.js';
import { sameBrowser, saveInteraction, sessionIdOf, startInteraction, type Interaction, type LoginSession } from '../interaction/interaction.js';
import { errorPage, sendPage } from '../interaction/pages.js';
import { consentRemembered, showInteraction } from '../interaction/routes.js';
import { methodNotAllowed } from '../http/error-handler.js';
import { meetsEssentialAcr } from '../authentication-context/acr.js';
import { REQUEST_URI_PREFIX, type PushedRequest } from './par.js';
import type { RecordKind, SequenceStep } from '../store/store.js';

/**
 * The authorization endpoint (FAPI 2.0 §5.3.2.2): only `client_id` and a `request_uri` this client
 * pushed count; every other parameter on the URL is ignored. Problems with the request_uri are
 * shown as a page: without a trusted request there is no redirect URI we may send the browser to.
 */
export function authorizeRoute(app: FastifyInstance, ctx: GatewayContext): void {
  /**
   * `copies`: the request and the browser's session may come from this replica's copies (Store.copy:
   * the PAR and the login were served here), with no read; only the common way on is taken from them,
   * starting the interaction with a sequence that finds both still in the store. Anything else (a
   * reload, a refusal, prompt=none, an expired request) runs from what the store holds.
   */
  const handler = async (request: FastifyRequest, reply: FastifyReply, copies = true): Promise<unknown> => {
    const params = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
    const clientId = single(params?.client_id);
    const requestUri = single(params?.request_uri);
    const client = clientId === undefined ? undefined : await ctx.clients.get(clientId);
    if (!client) return fail(reply, 'invalid_request', 'The client is missing or unknown.');
    if (requestUri === undefined) return fail(reply, 'invalid_request', 'This server only accepts pushed authorization requests (request_uri is missing).');
    if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return fail(reply, 'invalid_request_uri', 'The request_uri is not one this server issued.');

    const parId = requestUri.slice(REQUEST_URI_PREFIX.length);
    // The request, its interaction and the browser's session in one round trip; nothing is written
    // for a request_uri that is not valid, nor for a browser other than the one that opened it first.
    const keys: Array<readonly [RecordKind, string]> = [['par', parId], ['interaction', parId]];
    const sessionId = sessionIdOf(request);
    if (sessionId !== undefined) keys.push(['session', sessionId]);
    const copied = copies ? copiedRecords(ctx, parId, sessionId) : undefined;
    const afresh = () => handler(request, reply, false);
    const [pushed, existing, session] = copied ?? ((await ctx.store.getMany(keys)) as [PushedRequest?, Interaction?, LoginSession?]);
    if (!pushed || pushed.request.clientId !== client.id) return fail(reply, 'invalid_request_uri', 'The request_uri is unknown, was already used, or belongs to another client.');
    if (existing && !sameBrowser(request, existing)) return openedElsewhere(reply);
    const now = Math.floor(Date.now() / 1000);
    // A request opened in time may be reloaded until it completes (the interaction says it was opened).
    // (From copies, an interaction opened at another replica may yet exist: the store says.)
    if (!existing && now >= pushed.expiresAt) return copied ? afresh() : fail(reply, 'invalid_request_uri', 'The request_uri has expired.');
    const { request: authz } = pushed;
    // A client the ecosystem stopped since it pushed the request gets the error at its redirect URI.
    const refusal = ctx.hooks.clientRefusal?.(client.id);
    if (refusal) {
      if (copied) return afresh();
      await Promise.all([ctx.store.delete('par', parId), ctx.store.delete('interaction', parId)]);
      return redirect(ctx, reply, client, authz, { error: refusal.error, error_description: refusal.description });
    }
    // A session stands in for a login unless the client wants a fresh one, or a stronger one than it reached (step-up).
    const usable =
      session &&
      !authz.prompt?.includes('login') &&
      (authz.maxAge === undefined || now - session.authTime <= authz.maxAge) &&
      meetsEssentialAcr(authz, session.acr ?? ctx.users.acrReached(session.sub, ctx.profile));
    const fresh = usable ? session : undefined;
    if (authz.prompt?.includes('none')) {
      if (copied) return afresh();
      // Nothing may be shown: only a logged-in user with a remembered consent can be answered silently.
      if (fresh && (await consentRemembered(ctx, fresh.sub, pushed)))
        return completeAuthorization(ctx, reply, parId, pushed, { approved: true, ...fresh });
      await Promise.all([ctx.store.delete('par', parId), ctx.store.delete('interaction', parId)]);
      const error = fresh ? 'consent_required' : 'login_required';
      return redirect(ctx, reply, client, authz, { error, error_description: 'user interaction is required' });
    }
    const signedIn = fresh ? { ...fresh } : {};
    // What the ecosystem's hooks of this step will read travels with the interaction's write.
    ctx.hooks.prefetch?.({ request: authz });
    // From copies: only while the request and the session are still in the store.
    const guards: SequenceStep[] | undefined = copied && [{ present: 'par', id: parId }, ...(session ? [{ present: 'session' as const, id: sessionId! }] : [])];
    let interaction = existing ?? (await startInteraction(ctx, request, reply, { parId, clientId: client.id, ...signedIn }, guards));
    if (interaction === 'guards failed') return afresh();
    if (!interaction) return openedElsewhere(reply);
    if (interaction.sub === undefined && fresh) {
      // Signed in meanwhile (in another tab): the reload goes on to consent, as a first visit would.
      interaction = { ...interaction, ...signedIn };
      await saveInteraction(ctx, interaction);
    }
    return showInteraction(ctx, reply, interaction, pushed);
  };
  app.get(PATHS.authorization, (request, reply) => handler(request, reply));
  app.post(PATHS.authorization, (request, reply) => handler(request, reply));
  methodNotAllowed(app, PATHS.authorization, ['GET', 'POST']);
}

/**
 * The request, no interaction, and the browser's session (when it names one), from this replica's
 * copies: when it has the request and, if asked, the session, and no interaction of the request (a
 * reload, or one opened here before, reads the store).
 */
function copiedRecords(ctx: GatewayContext, parId: string, sessionId: string | undefined): [PushedRequest, undefined, LoginSession?] | undefined {
  const { store } = ctx;
  if (!store.copy || store.copy('interaction', parId) !== undefined) return undefined;
  const pushed = store.copy<PushedRequest>('par', parId);
  if (!pushed) return undefined;
  if (sessionId === undefined) return [pushed, undefined];
  const session = store.copy<LoginSession>('session', sessionId);
  return session ? [pushed, undefined, session] : undefined;
}

function single(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function fail(reply: FastifyReply, error: string, description: string): FastifyReply {
  return sendPage(reply, 400, 'Authorization error', errorPage(error, description));
}

/** RFC 9126 §7.3: a request_uri is used once; the browser that opened it first keeps it. */
function openedElsewhere(reply: FastifyReply): FastifyReply {
  return fail(reply, 'invalid_request_uri', 'This authorization request was already opened in another browser. Start again from the application.');
}
