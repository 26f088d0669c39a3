import { ConfigError } from '../config/config-error.js';
import type { EcosystemFactory, EcosystemHooks } from './hooks.js';
import { brazilPack } from './brazil/index.js';

/** Ecosystem packs by the name a profile gives in `ecosystem:`. The CDR and Brazil packs register here. */
const ECOSYSTEMS: Record<string, EcosystemFactory> = {
  brazil: brazilPack,
};

export function ecosystemHooks(name: string | null, settings?: Record<string, unknown>): EcosystemHooks {
  if (name === null) {
    if (settings !== undefined) throw new ConfigError('ecosystem', 'the profile has no ecosystem pack to take these settings');
    return {};
  }
  const factory = ECOSYSTEMS[name];
  if (!factory) throw new ConfigError('profile.ecosystem', `no ecosystem pack named "${name}" (available: ${Object.keys(ECOSYSTEMS).join(', ') || 'none'})`);
  return factory(settings);
}
