import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ConfigError } from '../../config/config-error.js';
import type { GatewayContext } from '../../context.js';
import { refuseMalformedTargets } from '../../http/request-target.js';
import { observeRequests } from '../../observability/request-observer.js';
import { peerCertificate } from '../../tls/peer-certificate.js';
import { FAPI_TLS_POLICY } from '../../tls/policy.js';
import { interactionApiRoutes } from './interaction-api.js';

/**
 * The interaction API's own listener: TLS with the gateway's server certificate, and a client
 * certificate from one of `interaction.clientCAs` required at the handshake. Those CAs issue the
 * bank's login apps' certificates only (never the clients' CAs): a connection without one does
 * not get as far as HTTP.
 */
export async function interactionApiListener(ctx: GatewayContext, options: FastifyServerOptions, serverLimits: Record<string, unknown>): Promise<FastifyInstance> {
  const app = Fastify({
    ...options,
    bodyLimit: 32_768,
    https: { ...(await interactionSecureContext(ctx, ctx.credentials)), requestCert: true, rejectUnauthorized: true, ...serverLimits },
  } as FastifyServerOptions) as unknown as FastifyInstance;
  refuseMalformedTargets(app);
  // The bank app's certificate comes in the handshake only: never from a proxy's header here.
  observeRequests(app, 'interaction', ctx.metrics, undefined, { trustedProxies: ctx.trustedProxies, peerCertificate });
  interactionApiRoutes(app, ctx);
  return app;
}

/** The listener's TLS: the gateway's server certificate (reloaded with it) and the bank apps' CAs, read again at each reload. */
export async function interactionSecureContext(ctx: GatewayContext, credentials: { cert: Buffer; key: Buffer }) {
  const files = ctx.config.interaction.clientCAs ?? [];
  const ca = await Promise.all(
    files.map((file, i) =>
      readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(`interaction.clientCAs[${i}]`, `cannot read ${file}: ${err.code ?? err.message}`);
      }),
    ),
  );
  return { ...FAPI_TLS_POLICY, cert: credentials.cert, key: credentials.key, ca };
}
