import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { completeAuthorization, redirect } from '../interaction/complete.js';
import { browserBinding, findSession, startInteraction } from '../interaction/interaction.js';
import { errorPage, sendPage } from '../interaction/pages.js';
import { consentRemembered, showInteraction } from '../interaction/routes.js';
import { methodNotAllowed } from '../http/error-handler.js';
import { REQUEST_URI_PREFIX, type PushedRequest } from './par.js';

/**
 * The authorization endpoint (FAPI 2.0 §5.3.2.2): only `client_id` and a `request_uri` this client
 * pushed count; every other parameter on the URL is ignored. Problems with the request_uri are
 * shown as a page: without a trusted request there is no redirect URI we may send the browser to.
 */
export function authorizeRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
    const clientId = single(params?.client_id);
    const requestUri = single(params?.request_uri);
    const client = clientId === undefined ? undefined : ctx.clients.get(clientId);
    if (!client) return fail(reply, 'invalid_request', 'The client is missing or unknown.');
    if (requestUri === undefined) return fail(reply, 'invalid_request', 'This server only accepts pushed authorization requests (request_uri is missing).');
    if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return fail(reply, 'invalid_request_uri', 'The request_uri is not one this server issued.');

    const parId = requestUri.slice(REQUEST_URI_PREFIX.length);
    // The browser's session is read alongside the request (one round trip); it is used only for a valid request.
    const [pushed, session] = await Promise.all([ctx.store.get<PushedRequest>('par', parId), findSession(ctx, request)]);
    if (!pushed || pushed.request.clientId !== client.id) return fail(reply, 'invalid_request_uri', 'The request_uri is unknown, was already used, or belongs to another client.');
    const now = Math.floor(Date.now() / 1000);
    if (!pushed.started && now >= pushed.expiresAt) return fail(reply, 'invalid_request_uri', 'The request_uri has expired.');
    const { request: authz } = pushed;
    const usable = session && !authz.prompt?.includes('login') && (authz.maxAge === undefined || now - session.authTime <= authz.maxAge);
    const fresh = usable ? session : undefined;
    const [interaction] = await Promise.all([
      startInteraction(ctx, {
        parId,
        clientId: client.id,
        request: authz,
        browser: browserBinding(request, reply),
        ...(fresh ? { sub: fresh.sub, authTime: fresh.authTime } : {}),
      }),
      // From here on the request may be reloaded until it completes.
      pushed.started ? undefined : ctx.store.set('par', parId, { ...pushed, started: true }, ctx.profile.lifetimes.interaction),
    ]);
    if (authz.prompt?.includes('none')) {
      // Nothing may be shown: only a logged-in user with a remembered consent can be answered silently.
      if (fresh && (await consentRemembered(ctx, interaction, pushed)))
        return completeAuthorization(ctx, reply, interaction, { approved: true, sub: fresh.sub, authTime: fresh.authTime });
      await Promise.all([ctx.store.delete('par', parId), ctx.store.delete('interaction', interaction.uid)]);
      const error = fresh ? 'consent_required' : 'login_required';
      return redirect(ctx, reply, client, authz, { error, error_description: 'user interaction is required' });
    }
    return showInteraction(ctx, reply, interaction, { pushed });
  };
  app.get(PATHS.authorization, handler);
  app.post(PATHS.authorization, handler);
  methodNotAllowed(app, PATHS.authorization, ['GET', 'POST']);
}

function single(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function fail(reply: FastifyReply, error: string, description: string): FastifyReply {
  return sendPage(reply, 400, 'Authorization error', errorPage(error, description));
}
