import type { FastifyRequest } from 'fastify';
import type { GatewayContext } from '../../../context.js';
import { RegistrationError } from '../../../registration/errors.js';
import { guard } from '../../../tokens/guard.js';

export const REGISTRATION_SCOPE = 'cdr:registration';

/**
 * CDS DCR management (GET/PUT/DELETE /register/{clientId}): a client_credentials access token of
 * scope cdr:registration, bound to the calling certificate, issued to the client being managed.
 */
export async function authorizeManagement(ctx: GatewayContext, clientId: string, request: FastifyRequest): Promise<void> {
  const claims = await guard(ctx, request, [REGISTRATION_SCOPE]);
  if (claims.client_id !== clientId || claims.sub !== clientId) {
    const err = new RegistrationError('invalid_token', 'the access token was not issued to this client', 401, {
      'www-authenticate': 'Bearer error="invalid_token", error_description="the access token was not issued to this client"',
    });
    err.audit = 'registration_management_refused';
    throw err;
  }
}
