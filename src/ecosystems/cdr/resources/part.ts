import type { FastifyInstance } from 'fastify';
import { INTERACTION_ID } from '../../../gateway/fapi-headers.js';
import type { EcosystemHooks } from '../../hooks.js';
import { CdsError, renderCdsError } from './cds-errors.js';
import { cdsConventions, cdsInteractionId, cdsRouteSettings } from './cds-conventions.js';
import { CDS_ROOT, isCdsEndpoint } from './cds-endpoints.js';

/**
 * The CDR resource front door: CDS conventions on the routes a deployment declares, and the CDS
 * answer for paths of the CDS namespace no route serves. Takes no pack settings.
 */
export function resourcePart(_settings: Record<string, unknown> | undefined): EcosystemHooks {
  return {
    resourceConventions: (route) => {
      const settings = cdsRouteSettings(route);
      return settings && cdsConventions(settings);
    },
    routes: async (listeners) => {
      for (const app of [listeners.public, listeners.mtls]) await app.register(unservedCdsPaths, { prefix: CDS_ROOT });
    },
  };
}

/**
 * What no route (nor another part's endpoint) under /cds-au serves: 404 in the CDS envelope,
 * NotImplemented for an endpoint the CDS defines, NotFound for anything else.
 */
async function unservedCdsPaths(scope: FastifyInstance): Promise<void> {
  scope.addHook('onSend', (request, reply, payload, done) => {
    reply.header(INTERACTION_ID, cdsInteractionId(request));
    done(null, payload);
  });
  scope.setNotFoundHandler((request, reply) =>
    renderCdsError(
      reply,
      isCdsEndpoint(request.url.split('?')[0])
        ? new CdsError(404, 'Resource/NotImplemented', 'Resource Not Implemented', 'this data holder does not serve this endpoint')
        : new CdsError(404, 'Resource/NotFound', 'Resource Not Found', 'no such CDS endpoint'),
    ),
  );
}
