import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { ConfigError } from '../../config/config-error.js';
import type { ConfigFile } from '../../config/schema.js';
import type { GatewayContext } from '../../context.js';
import { installOAuthErrorHandling } from '../../http/error-handler.js';
import { refuseMalformedTargets } from '../../http/request-target.js';
import { observeRequests } from '../../observability/request-observer.js';
import { FAPI_TLS_POLICY } from '../../tls/policy.js';
import { guard, TokenRejected } from '../../tokens/guard.js';
import { adminGrantRoutes } from './admin-api.js';

/** The settings' rules the schema cannot say; a wrong one fails at start, naming its key. */
export function checkGrantManagementSettings(config: ConfigFile): void {
  const { admin } = config.grantManagement;
  if (admin.auth === 'mtls') {
    if (!config.listeners.admin) throw new ConfigError('listeners.admin', 'is required when grantManagement.admin.auth is mtls');
    if (!admin.clientCAs) throw new ConfigError('grantManagement.admin.clientCAs', 'is required when grantManagement.admin.auth is mtls');
  } else {
    if (config.listeners.admin) throw new ConfigError('listeners.admin', 'serves the grant management API only: set grantManagement.admin.auth to mtls, or remove it');
    if (admin.clientCAs) throw new ConfigError('grantManagement.admin.clientCAs', 'is used with grantManagement.admin.auth mtls only');
  }
}

/**
 * The admin API's own listener: TLS with the gateway's server certificate and a client certificate
 * from one of `grantManagement.admin.clientCAs` required at the handshake (the bank's back office
 * only, never the clients' CAs): a connection without one does not get as far as HTTP.
 */
export async function adminListener(ctx: GatewayContext, options: FastifyServerOptions, serverLimits: Record<string, unknown>): Promise<FastifyInstance> {
  const files = ctx.config.grantManagement.admin.clientCAs ?? [];
  const ca = await Promise.all(
    files.map((file, i) =>
      readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(`grantManagement.admin.clientCAs[${i}]`, `cannot read ${file}: ${err.code ?? err.message}`);
      }),
    ),
  );
  const app = Fastify({
    ...options,
    bodyLimit: 4096,
    https: { ...FAPI_TLS_POLICY, cert: ctx.credentials.cert, key: ctx.credentials.key, requestCert: true, rejectUnauthorized: true, ca, ...serverLimits },
  } as FastifyServerOptions) as unknown as FastifyInstance;
  refuseMalformedTargets(app);
  installOAuthErrorHandling(app);
  observeRequests(app, 'admin', ctx.metrics);
  adminGrantRoutes(app, ctx, async (request) => certificateSubject(request));
  return app;
}

/** `token` mode: the routes on the back-channel listeners, for a client_credentials token with the admin scope. */
export function adminRoutesWithToken(app: FastifyInstance, ctx: GatewayContext): void {
  const scope = ctx.config.grantManagement.admin.scope;
  adminGrantRoutes(app, ctx, async (request) => {
    const claims = await guard(ctx, request, [scope]);
    // The bank's own client acting for itself: a token a customer authorized is never an admin's.
    if (claims.sub !== claims.client_id)
      throw new TokenRejected('insufficient_scope', 'insufficient_scope', 'a client_credentials access token is required', [scope], claims.cnf.jkt !== undefined ? ctx.dpop.rules.algorithms : undefined);
    return `client:${claims.client_id}`;
  });
}

function certificateSubject(request: FastifyRequest): string {
  const subject = (request.raw.socket as TLSSocket).getPeerCertificate?.()?.subject;
  return `certificate:${subject?.CN ?? 'unknown'}`;
}
