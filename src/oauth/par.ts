import type { FastifyInstance } from 'fastify';
import { authenticateClientAndPrepare, type ReplayCheckPending } from '../clients/authenticate.js';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { formParams } from '../http/form-body.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { validateAuthorizationRequest, type AuthorizationRequest } from './authorization-request.js';
import { checkGrantManagementRequest } from '../grants/management/client-grant-management.js';
import { pushedParameters } from './request-object/pushed-parameters.js';
import { nonceHeaders, proofAtAuthorizationServer, pushedRequestKey } from '../dpop/authorization-server.js';
import { listenerEndpointUrl } from '../dpop/htu.js';
import { randomToken } from '../tokens/secrets.js';
import type { SequenceOutcome, SequenceStep } from '../store/store.js';
import type { PushGuard } from '../ecosystems/hooks.js';

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** A pushed request as stored under its request_uri. */
export interface PushedRequest {
  request: AuthorizationRequest;
  /** Seconds since the epoch: the authorization endpoint refuses a first visit after this. */
  expiresAt: number;
}

/** Pushed Authorization Requests (RFC 9126). */
export function parRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.par, async (request, reply) => {
    const params = formParams(request);
    let caller: ReplayCheckPending & { prepared: { request: AuthorizationRequest; recordJti(): Promise<void> } };
    try {
      // Checked before the client authenticates, so a client told to use a DPoP nonce can resend its assertion.
      const proof = await proofAtAuthorizationServer(ctx, request);
      caller = await authenticateClientAndPrepare(request, params, listenerEndpointUrl(request, PATHS.par, ctx.urls.par), ctx, async ({ client }) => {
        const refusal = ctx.hooks.clientRefusal?.(client.id);
        if (refusal) throw refusal;
        // From a signed request object when there is one (RFC 9101), else from the form; dpop_jkt too.
        const source = await pushedParameters(params, client, ctx);
        const validated = await validateAuthorizationRequest(source.params, client, client.rules, ctx.hooks);
        await checkGrantManagementRequest(ctx, source.params, client, validated);
        const dpopJkt = pushedRequestKey(proof, source.params.dpop_jkt);
        if (dpopJkt !== undefined) validated.dpopJkt = dpopJkt;
        return { request: validated, recordJti: source.recordJti };
      });
    } catch (err) {
      ctx.metrics?.parRequests.inc({ outcome: 'rejected' });
      throw err;
    }
    const lifetime = ctx.profile.lifetimes.requestUri;
    const id = randomToken();
    const pushed: PushedRequest = { request: caller.prepared.request, expiresAt: Math.floor(Date.now() / 1000) + lifetime };
    // The assertion's jti, the request object's and the pushed request go to the store in one round
    // trip; the assertion's jti, the pack's guards and the request in one sequence, where a replay or
    // a guard stops before the request is stored. The request is kept past its first-use deadline so
    // that an authorization started in time can complete.
    const ttlSeconds = lifetime + ctx.profile.lifetimes.interaction;
    const { replayStep } = caller;
    const guards = ctx.hooks.pushGuards?.({ request: caller.prepared.request }) ?? [];
    const steps: SequenceStep[] = [...(replayStep ? [replayStep] : []), ...guards.flatMap((g) => g.steps), { set: 'par', id, value: pushed, ttlSeconds }];
    const write: Promise<SequenceOutcome> = steps.length > 1 ? ctx.store.sequence(steps) : ctx.store.set('par', id, pushed, ttlSeconds).then(() => [true]);
    const [checked, recorded, stored] = await Promise.allSettled([
      replayStep ? write.then((ran) => caller.replayChecked(ran[0] === true)) : caller.checkReplay(),
      caller.prepared.recordJti(),
      write,
    ]);
    // A replayed assertion is refused as such whatever else was wrong, then a replayed request object.
    const refused = [checked, recorded].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) {
      // Nobody learns this request_uri; delete it rather than let it wait for its TTL.
      ctx.metrics?.parRequests.inc({ outcome: 'rejected' });
      if (stored.status === 'fulfilled' && stored.value.length === steps.length) await ctx.store.delete('par', id).catch(() => undefined);
      throw refused.reason;
    }
    if (stored.status === 'rejected') throw stored.reason;
    if (stored.value.length < steps.length) {
      ctx.metrics?.parRequests.inc({ outcome: 'rejected' });
      throw failedGuard(guards, stored.value.length - 1 - (replayStep ? 1 : 0)).refusal();
    }
    ctx.metrics?.parRequests.inc({ outcome: 'created' });
    return reply.code(201).headers(NO_STORE).headers(nonceHeaders(ctx)).send({ request_uri: REQUEST_URI_PREFIX + id, expires_in: lifetime });
  });
  methodNotAllowed(app, PATHS.par, ['POST']);
}

/** The guard whose steps hold the one at `stepIndex` (counted over all guards' steps). */
function failedGuard(guards: PushGuard[], stepIndex: number): PushGuard {
  for (const guard of guards) {
    if (stepIndex < guard.steps.length) return guard;
    stepIndex -= guard.steps.length;
  }
  throw new Error('a pushed request stopped at no guard');
}
