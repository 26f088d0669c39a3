import { remoteClientKeys } from '../clients/remote-keys.js';
import { validateClientMetadata, type ClientValidationOptions } from '../clients/client-metadata.js';
import { RegisteredClients } from '../clients/registered-clients.js';
import type { ClientRegistry } from '../clients/registry.js';
import { addressBlocks } from '../config/address-blocks.js';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, Profile } from '../config/schema.js';
import { PATHS, type EndpointUrls } from '../config/urls.js';
import type { EcosystemHooks } from '../ecosystems/hooks.js';
import { fetchJson, outboundFetch } from '../http/outbound-fetch.js';
import type { Store } from '../store/store.js';
import { ClientRegistrations } from './client-registrations.js';
import { TrustedDirectories, type DirectorySettings } from './directories.js';

/** A JWKS document larger than this is refused (a few dozen keys). */
const MAX_JWKS_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 5_000;

/**
 * Adds the store's registered clients to the registry (whether or not registration is enabled: the
 * CLI adds clients too) and builds registration from the config's `registration:` block.
 */
export async function setUpRegistration(input: {
  config: ConfigFile;
  profile: Profile;
  store: Store;
  clients: ClientRegistry;
  hooks: EcosystemHooks;
  urls: EndpointUrls;
}): Promise<ClientRegistrations> {
  const { config, profile, store, clients, hooks, urls } = input;
  const settings = config.registration;
  const contributed = hooks.registrationSettings?.() ?? {};
  const directorySettings: DirectorySettings[] = [
    ...settings.directories.map((d, i) => ({ ...d, at: `registration.directories[${i}]` })),
    ...(contributed.directories ?? []).map((d, i) => ({ ...d, at: d.at ?? `ecosystem (directory ${i + 1} of the pack)` })),
  ];
  if (settings.enabled && directorySettings.length === 0 && settings.initialAccessTokenSha256.length === 0)
    throw new ConfigError('registration', 'enabled needs directories (software statements) or initialAccessTokenSha256: open registration is not offered');
  const allowedPrivate = addressBlocks(settings.allowPrivateAddresses, 'registration.allowPrivateAddresses');
  const fetch = outboundFetch({ maxBytes: MAX_JWKS_BYTES, timeoutMs: FETCH_TIMEOUT_MS, allowedPrivate });
  const validation: Required<ClientValidationOptions> = {
    fetchJwks: (uri) => fetchJson(fetch, uri),
    remoteKeys: (uri) => remoteClientKeys(uri, fetch),
  };
  const registered = new RegisteredClients(
    store,
    async (record) => ({
      ...(await validateClientMetadata(record.metadata, profile, `registered client ${record.metadata.client_id}`, { remoteKeys: validation.remoteKeys })),
      registeredAt: record.registration.issuedAt,
    }),
    settings.cacheSize,
  );
  clients.withRegistered(registered);
  const directories = await TrustedDirectories.load(directorySettings, fetch);
  return new ClientRegistrations({
    settings,
    profile,
    hooks,
    store,
    clients,
    registered,
    directories,
    validation,
    registrableScopes: registrableScopes(config, clients),
    rotateAccessToken: contributed.rotateAccessToken ?? true,
    singleUseStatements: contributed.singleUseStatements ?? false,
    issuer: urls.issuer,
    clientUri: (clientId) => `${urls.mtlsBase}${PATHS.registration}/${encodeURIComponent(clientId)}`,
  });
}

/** `registration.scopes`, or openid with every scope the config's clients and routes use. */
export function registrableScopes(config: ConfigFile, clients: ClientRegistry): Set<string> {
  if (config.registration.scopes) return new Set(config.registration.scopes);
  const scopes = new Set(['openid']);
  for (const client of clients.all()) for (const s of client.scopes) scopes.add(s);
  for (const route of config.routes) for (const s of route.scopes) scopes.add(s);
  return scopes;
}
