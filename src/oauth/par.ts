import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../clients/authenticate.js';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { formParams } from '../http/form-body.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { validateAuthorizationRequest, type AuthorizationRequest } from './authorization-request.js';

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** A pushed request as stored under its request_uri. */
export interface PushedRequest {
  request: AuthorizationRequest;
  /** Seconds since the epoch: the authorization endpoint refuses a first visit after this. */
  expiresAt: number;
  /** Set on the first visit; a started authorization may be reloaded until it completes. */
  started?: boolean;
}

/** Pushed Authorization Requests (RFC 9126). */
export function parRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.par, async (request, reply) => {
    const params = formParams(request);
    let authorizationRequest: AuthorizationRequest;
    try {
      const { client } = await authenticateClient(request, params, ctx.urls.par, ctx);
      authorizationRequest = await validateAuthorizationRequest(params, client, ctx.profile, ctx.hooks);
    } catch (err) {
      ctx.metrics?.parRequests.inc({ outcome: 'rejected' });
      throw err;
    }
    const lifetime = ctx.profile.lifetimes.requestUri;
    const id = randomBytes(32).toString('base64url');
    const pushed: PushedRequest = { request: authorizationRequest, expiresAt: Math.floor(Date.now() / 1000) + lifetime };
    // Kept past its first-use deadline so that an authorization started in time can complete.
    await ctx.store.set('par', id, pushed, lifetime + ctx.profile.lifetimes.interaction);
    ctx.metrics?.parRequests.inc({ outcome: 'created' });
    return reply.code(201).headers(NO_STORE).send({ request_uri: REQUEST_URI_PREFIX + id, expires_in: lifetime });
  });
  methodNotAllowed(app, PATHS.par, ['POST']);
}
