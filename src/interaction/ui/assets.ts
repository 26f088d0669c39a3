import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../../context.js';
import { ASSETS_PREFIX, LOGO_PATH } from './settings.js';

// Served files are never documents: nothing in them runs, even when opened directly.
const ASSET_HEADERS = { 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox", 'cross-origin-resource-policy': 'same-origin' };

/** The pages' own files: the stylesheet, the bank's logo, clients' logos (fetched and kept by the gateway). */
export function assetRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const { ui, clientLogos } = ctx.pages;
  const count = (asset: string, outcome: string) => ctx.metrics?.pageAssets.inc({ asset, outcome });
  // The URL carries a hash of the content: a changed stylesheet is a new URL, so it may be cached long.
  app.get(`${ASSETS_PREFIX}/interaction.css`, (_request, reply) =>
    reply.headers({ ...ASSET_HEADERS, 'cache-control': 'public, max-age=86400' }).type('text/css; charset=utf-8').send(ui.css),
  );
  if (ui.logo) {
    const logo = ui.logo;
    app.get(LOGO_PATH, (_request, reply) => reply.headers({ ...ASSET_HEADERS, 'cache-control': 'public, max-age=3600' }).type(logo.type).send(logo.body));
  }
  app.get<{ Params: { clientId: string } }>(`${ASSETS_PREFIX}/clients/:clientId/logo`, async (request, reply) => {
    const client = request.params.clientId.length <= 256 ? await ctx.clients.get(request.params.clientId) : undefined;
    const logo = client ? await clientLogos.get(client, request.log) : undefined;
    count('client_logo', logo ? 'served' : client ? 'unavailable' : 'unknown_client');
    if (!logo) return reply.code(404).headers({ ...ASSET_HEADERS, 'cache-control': 'no-store' }).type('text/plain; charset=utf-8').send('not found');
    return reply.headers({ ...ASSET_HEADERS, 'cache-control': 'private, max-age=3600' }).type(logo.type).send(logo.body);
  });
}
