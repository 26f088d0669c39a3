import type { FastifyInstance } from 'fastify';
import type { EcosystemHooks } from '../../hooks.js';
import { ofbConventions, ofbRouteSettings } from './ofb-conventions.js';
import { OfbError, renderOfbError } from './ofb-errors.js';

const OFB_ROOT = '/open-banking';

/**
 * The Open Finance Brasil resource front door: OFB conventions on the routes that declare
 * permissions, and the OFB 404 for paths under /open-banking nothing serves. Takes no pack settings.
 */
export function resourcePart(_settings: Record<string, unknown> | undefined): EcosystemHooks {
  return {
    resourceConventions: (route) => {
      const settings = ofbRouteSettings(route);
      return settings && ofbConventions(settings);
    },
    routes: async (listeners) => {
      for (const app of [listeners.public, listeners.mtls]) await app.register(unservedOfbPaths, { prefix: OFB_ROOT });
    },
  };
}

async function unservedOfbPaths(scope: FastifyInstance): Promise<void> {
  scope.setNotFoundHandler((request, reply) => renderOfbError(reply, new OfbError(404, 'NAO_ENCONTRADO', 'Recurso não encontrado', `no endpoint ${request.method} ${request.url.split('?')[0]}`)));
}
