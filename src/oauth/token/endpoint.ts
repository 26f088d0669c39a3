import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../../clients/authenticate.js';
import { PATHS } from '../../config/urls.js';
import type { GatewayContext } from '../../context.js';
import { methodNotAllowed, NO_STORE } from '../../http/error-handler.js';
import { formParams } from '../../http/form-body.js';
import { invalidRequest, OAuthError } from '../errors.js';
import { authorizationCodeGrant } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import type { GrantHandler } from './grant-handler.js';
import { refreshTokenGrant } from './refresh-token.js';

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
    const handler = grantType === undefined ? undefined : HANDLERS[grantType];
    // Settled either way, so a failed authentication leaves no unhandled rejection behind.
    const prefetched = handler?.prefetch?.(ctx, params).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const caller = await authenticateClient(request, params, ctx.urls.token, ctx);
    if (grantType === undefined) throw invalidRequest('grant_type is required');
    if (!handler || !ctx.profile.grantTypes.includes(grantType as never)) throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
    if (!caller.client.grantTypes.has(grantType)) throw new OAuthError('unauthorized_client', `this client may not use ${grantType}`);
    // Access tokens are always sender-constrained: no certificate, nothing to bind them to.
    if (!caller.certificate) throw invalidRequest('a client certificate is required: access tokens are bound to it');
    const read = await prefetched;
    if (read && 'error' in read) throw read.error;
    const body = await handler.handle(ctx, params, { ...caller, certificateThumbprint: caller.certificate.thumbprint }, read?.value);
    ctx.metrics?.tokensIssued.inc({ grant_type: grantType });
    return reply.headers(NO_STORE).send(body);
  });
  methodNotAllowed(app, PATHS.token, ['POST']);
}
