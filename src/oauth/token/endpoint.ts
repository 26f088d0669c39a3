import type { FastifyInstance } from 'fastify';
import { authenticateClientAndPrepare } from '../../clients/authenticate.js';
import { PATHS } from '../../config/urls.js';
import type { Client } from '../../clients/client.js';
import type { GatewayContext } from '../../context.js';
import { methodNotAllowed, NO_STORE } from '../../http/error-handler.js';
import { formParams } from '../../http/form-body.js';
import { invalidRequest, OAuthError } from '../errors.js';
import { authorizationCodeGrant } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import type { GrantHandler, ReplayInSequence } from './grant-handler.js';
import { refreshTokenGrant } from './refresh-token.js';
import { nonceHeaders, proofAtAuthorizationServer, tokenBinding } from '../../dpop/authorization-server.js';
import { listenerEndpointUrl } from '../../dpop/htu.js';

const HANDLERS: Record<string, GrantHandler<unknown>> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
};

/** The token endpoint (RFC 6749 §3.2): authenticates the client, then hands over to the grant's handler. */
export function tokenRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post(PATHS.token, async (request, reply) => {
    const params = formParams(request);
    const grantType = params.grant_type;
    // Checked before the client authenticates, so a client told to use a DPoP nonce can resend its assertion.
    const proof = await proofAtAuthorizationServer(ctx, request);
    const caller = await authenticateClientAndPrepare(request, params, listenerEndpointUrl(request, PATHS.token, ctx.urls.token), ctx, ({ client, certificate }) => {
      const refusal = ctx.hooks.clientRefusal?.(client.id);
      if (refusal) throw refusal;
      if (grantType === undefined) throw invalidRequest('grant_type is required');
      const handler = HANDLERS[grantType];
      if (!handler || !ctx.profile.grantTypes.includes(grantType as never)) throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
      if (!client.grantTypes.has(grantType)) throw new OAuthError('unauthorized_client', `this client may not use ${grantType}`);
      return { handler, certificate, binding: tokenBinding(client, proof, certificate) };
    });
    const { client, prepared: { handler, certificate, binding } } = caller;
    const copied = handler.readCopy?.(ctx, params);
    let read: unknown;
    let body: Awaited<ReturnType<GrantHandler<unknown>['handle']>>;
    if (copied !== undefined) {
      // Nothing to read: the assertion's jti goes with the grant's one-time writes, in one sequence.
      read = copied;
      let sent = false;
      const replay: ReplayInSequence = {
        get step() {
          sent = true;
          return caller.replayStep;
        },
        checked: (recorded) => caller.replayChecked(recorded),
      };
      try {
        body = await handler.handle(ctx, params, { client, certificate, ...binding }, read, replay);
      } catch (err) {
        // Refused before its sequence left: the assertion is spent all the same, and a replay is refused as such.
        if (!sent) await caller.checkReplay();
        throw err;
      }
    } else {
      // One store round trip: the assertion's jti and what the grant needs (a replay fails the whole).
      [, read] = await Promise.all([caller.checkReplay(), handler.read?.(ctx, params)]);
      body = await handler.handle(ctx, params, { client, certificate, ...binding }, read);
    }
    ctx.metrics?.tokensIssued.inc({ grant_type: grantType });
    const event = grantType === 'refresh_token' ? 'token_refreshed' : 'token_issued';
    request.log.info({ audit: event, client_id: client.id, ...grantOf(ctx, client, read), grant_type: grantType, scope: body.scope }, event);
    return reply.headers(NO_STORE).headers(nonceHeaders(ctx)).send(body);
  });
  methodNotAllowed(app, PATHS.token, ['POST']);
}

/** The grant (and for a code, its customer as this client knows them) a token was issued from, for the audit record. */
function grantOf(ctx: GatewayContext, client: Client, read: unknown): { grant_id?: string; sub?: string } {
  const record = read as { grantId?: string; grant?: { sub: string } } | undefined;
  return {
    ...(record?.grantId !== undefined ? { grant_id: record.grantId } : {}),
    ...(record?.grant ? { sub: ctx.subjects.forClient(client, record.grant.sub) } : {}),
  };
}
