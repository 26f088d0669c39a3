import type { EcosystemHooks } from '../../hooks.js';
import { ofbConventions, ofbRouteSettings } from './ofb-conventions.js';

/** The Open Finance Brasil resource front door: OFB conventions on the routes that declare permissions. Takes no pack settings. */
export function resourcePart(_settings: Record<string, unknown> | undefined): EcosystemHooks {
  return {
    resourceConventions: (route) => {
      const settings = ofbRouteSettings(route);
      return settings && ofbConventions(settings);
    },
  };
}
