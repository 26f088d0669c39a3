import { ConfigError } from '../config/config-error.js';
import type { ClientMetadata, Profile } from '../config/schema.js';
import { validateClientMetadata } from './client-metadata.js';
import type { Client } from './client.js';
import type { RegisteredClients } from './registered-clients.js';

/**
 * Every client: the static ones of the config file (kept in memory, checked at start) and the
 * registered ones in the store (RFC 7591, the CLI), both checked by `validateClientMetadata`. A
 * config client wins over a registered one of the same id.
 */
export class ClientRegistry {
  readonly #clients = new Map<string, Client>();
  #registered: RegisteredClients | undefined;

  /** The client, or undefined when it is neither configured nor registered. */
  get(clientId: string): Promise<Client | undefined> {
    const configured = this.#clients.get(clientId);
    if (configured || !this.#registered) return Promise.resolve(configured);
    return this.#registered.get(clientId);
  }

  /**
   * Without a store call: a config client, or a registered one in this replica's cache. For code that
   * holds a client resolved by `get` moments ago in the same request (e.g. grant lifetimes).
   */
  cached(clientId: string): Client | undefined {
    return this.#clients.get(clientId) ?? this.#registered?.cached(clientId);
  }

  /** True for clients of the config file (which registration and the CLI never change). */
  isConfigured(clientId: string): boolean {
    return this.#clients.has(clientId);
  }

  /** The config file's clients only: what discovery derives scopes_supported from, not what anonymous callers registered. */
  all(): IterableIterator<Client> {
    return this.#clients.values();
  }

  /** Every algorithm a config client chose to have its responses signed with has an active server key. */
  checkSigningKeys(available: readonly string[]): void {
    const keys = ['id_token_signed_response_alg', 'authorization_signed_response_alg', 'userinfo_signed_response_alg'] as const;
    for (const [i, client] of [...this.#clients.values()].entries())
      for (const key of keys) {
        const alg = client.metadata[key];
        if (alg !== undefined && !available.includes(alg)) throw new ConfigError(`clients[${i}].${key}`, `no active signing key for ${alg} in keys.signing`);
      }
  }

  get registered(): RegisteredClients | undefined {
    return this.#registered;
  }

  /** Adds the store's registered clients as the second source. */
  withRegistered(registered: RegisteredClients): this {
    this.#registered = registered;
    return this;
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
