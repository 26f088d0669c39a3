import type { FastifyInstance } from 'fastify';
import { INTERACTION_ID } from '../../../gateway/fapi-headers.js';
import type { ErrorRenderingConfig } from '../../../gateway/resource-conventions.js';
import type { EcosystemHooks } from '../../hooks.js';
import { CdsError, renderCdsError } from './cds-errors.js';
import { cdsConventions, cdsInteractionId, cdsRouteSettings } from './cds-conventions.js';
import { CDS_ROOT, isCdsEndpoint } from './cds-endpoints.js';

/**
 * The CDR resource front door: CDS conventions on the routes a deployment declares, and the CDS
 * answer for paths of the CDS namespace no route serves. Takes no pack settings.
 */
export function resourcePart(_settings: Record<string, unknown> | undefined): EcosystemHooks {
  let prefixes: string[] = [];
  return {
    resourceConventions: (route) => {
      const settings = cdsRouteSettings(route);
      return settings && cdsConventions(settings);
    },
    start: (ctx) => {
      prefixes = ctx.config.routes.map((route) => route.prefix);
    },
    routes: async (listeners) => {
      // A deployment that routes the whole namespace to an upstream leaves its unknown paths to it.
      if (prefixes.includes(CDS_ROOT)) return;
      for (const app of [listeners.public, listeners.mtls]) await app.register(unservedCdsPaths);
    },
  };
}

/** 404 in the CDS envelope: NotImplemented for a CDS endpoint the bank does not serve, NotFound otherwise. */
async function unservedCdsPaths(scope: FastifyInstance): Promise<void> {
  scope.addHook('onSend', (request, reply, payload, done) => {
    reply.header(INTERACTION_ID, cdsInteractionId(request));
    done(null, payload);
  });
  const config: ErrorRenderingConfig = { renderError: renderCdsError };
  for (const url of [CDS_ROOT, `${CDS_ROOT}/*`])
    scope.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url,
      config,
      handler: async (request) => {
        const path = request.url.split('?')[0];
        throw isCdsEndpoint(path)
          ? new CdsError(404, 'Resource/NotImplemented', 'Resource Not Implemented', 'this data holder does not serve this endpoint')
          : new CdsError(404, 'Resource/NotFound', 'Resource Not Found', 'no such CDS endpoint');
      },
    });
}
