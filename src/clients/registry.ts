import { ConfigError } from '../config/config-error.js';
import type { ClientMetadata, Profile } from '../config/schema.js';
import { validateClientMetadata } from './client-metadata.js';
import type { Client } from './client.js';

/** The registered clients. Static ones come from the config file; dynamic registration will add here. */
export class ClientRegistry {
  readonly #clients = new Map<string, Client>();

  get(clientId: string): Client | undefined {
    return this.#clients.get(clientId);
  }

  all(): IterableIterator<Client> {
    return this.#clients.values();
  }

  static async fromConfig(clients: ClientMetadata[], profile: Profile): Promise<ClientRegistry> {
    const registry = new ClientRegistry();
    for (const [i, metadata] of clients.entries()) {
      const at = `clients[${i}]`;
      if (registry.#clients.has(metadata.client_id)) throw new ConfigError(`${at}.client_id`, `duplicate client_id "${metadata.client_id}"`);
      registry.#clients.set(metadata.client_id, await validateClientMetadata(metadata, profile, at));
    }
    return registry;
  }
}

