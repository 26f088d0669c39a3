import { ConfigError } from '../config/config-error.js';
import type { EcosystemFactory, EcosystemHooks } from './hooks.js';

/**
 * Ecosystem packs by the name a profile gives in `ecosystem:`. Each is imported only when a profile
 * names it: a pack is dozens of modules a gateway on another profile would only hold in memory.
 */
const ECOSYSTEMS: Record<string, () => Promise<EcosystemFactory>> = {
  brazil: async () => (await import('./brazil/index.js')).brazilPack,
  cdr: async () => (await import('./cdr/index.js')).cdrPack,
};

export async function ecosystemHooks(name: string | null, settings?: Record<string, unknown>): Promise<EcosystemHooks> {
  if (name === null) {
    if (settings !== undefined) throw new ConfigError('ecosystem', 'the profile has no ecosystem pack to take these settings');
    return {};
  }
  const load = Object.hasOwn(ECOSYSTEMS, name) ? ECOSYSTEMS[name] : undefined;
  if (!load) throw new ConfigError('profile.ecosystem', `no ecosystem pack named "${name}" (available: ${Object.keys(ECOSYSTEMS).join(', ') || 'none'})`);
  return (await load())(settings);
}
