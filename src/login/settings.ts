import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, InteractionSettings } from '../config/schema.js';

const KEYS_OF: Record<InteractionSettings['mode'], (keyof InteractionSettings)[]> = {
  builtin: ['mode', 'acr'],
  external: ['mode', 'loginUrl', 'clientCAs', 'acrValues', 'amrValues', 'claims'],
  oidc: ['mode', 'issuer', 'client_id', 'clientAuth', 'clientKey', 'clientCertificate', 'ca', 'scope', 'allowPrivateAddresses', 'mapping', 'acrValues', 'amrValues'],
};

/** Each login mode's keys are present where required and absent where they would be ignored. */
export function checkInteractionSettings(config: ConfigFile): void {
  const settings = config.interaction;
  const allowed = new Set(KEYS_OF[settings.mode]);
  for (const key of Object.keys(settings) as (keyof InteractionSettings)[])
    if (!allowed.has(key)) throw new ConfigError(`interaction.${key}`, `is not a setting of interaction.mode ${settings.mode}`);
  const require = (key: keyof InteractionSettings) => {
    if (settings[key] === undefined) throw new ConfigError(`interaction.${key}`, `is required with interaction.mode ${settings.mode}`);
  };
  if (settings.mode === 'external') {
    for (const key of ['loginUrl', 'clientCAs', 'acrValues'] as const) require(key);
    if (!config.listeners.interaction) throw new ConfigError('listeners.interaction', 'is required with interaction.mode external (the interaction API listener)');
  } else if (config.listeners.interaction) {
    throw new ConfigError('listeners.interaction', 'serves the interaction API of interaction.mode external only');
  }
  if (settings.mode === 'oidc') {
    for (const key of ['issuer', 'client_id', 'clientAuth', 'acrValues'] as const) require(key);
    if (settings.clientAuth === 'private_key_jwt' && !settings.clientKey) throw new ConfigError('interaction.clientKey', 'is required with clientAuth private_key_jwt');
    if (settings.clientAuth === 'tls_client_auth' && !settings.clientCertificate) throw new ConfigError('interaction.clientCertificate', 'is required with clientAuth tls_client_auth');
    const acrValues = new Set(settings.acrValues);
    for (const [upstream, mapped] of Object.entries(settings.mapping?.acr ?? {}))
      if (!acrValues.has(mapped)) throw new ConfigError(`interaction.mapping.acr.${upstream}`, `maps to "${mapped}", which is not in interaction.acrValues`);
  }
}
