import type { ClientMetadata } from '../config/schema.js';
import type { ChangeNotice, Store } from '../store/store.js';
import type { Client } from './client.js';

/** What the store keeps of a registered client (RFC 7591): its metadata and its management credentials. */
export interface RegisteredClientRecord {
  metadata: ClientMetadata;
  registration: {
    /** SHA-256 (base64url) of the registration access token: the token itself is never stored. */
    accessTokenHash: string;
    /** The certificate the registration access token is bound to (x5t#S256). */
    certificateThumbprint: string;
    /** The software statement as the client sent it (RFC 7591 §3.2.1 returns it). */
    softwareStatement?: string;
    /** The directory that signed the statement, and its software_id (for audit and one-per-software rules). */
    directory?: string;
    softwareId?: string;
    issuedAt: number;
    updatedAt: number;
    source: 'registration' | 'cli';
  };
}

/**
 * Registered clients are long-lived by design: they stay until deleted (RFC 7592 DELETE, the CLI).
 * The store needs a TTL for every record; this one outlives any deployment.
 */
export const REGISTERED_CLIENT_TTL_SECONDS = 100 * 365 * 86_400;
/** Notices of changed registered clients (create, update, delete), one client_id each. */
export const CLIENT_CHANGES_CHANNEL = 'client-changes';
/** Cached clients are read again after this long even if no notice came (a lost notice's worst case). */
const MAX_CACHE_AGE_MS = 60_000;

interface CacheEntry {
  client: Client;
  record: RegisteredClientRecord;
  cachedAt: number;
  /** Read while notices were live and none came during the read: `get` may answer from it. */
  trusted: boolean;
}

/**
 * The registered clients in the store, read through a small in-process cache (least recently used
 * go first). Every change is announced to every replica (Redis pub/sub), which drops the client from
 * its cache; while the notices may be missed (the subscription is down) nothing is cached, so a
 * change made on any replica is seen by every replica as soon as its notice arrives.
 */
export class RegisteredClients {
  readonly #cache = new Map<string, CacheEntry>();
  /** Counts notices and gaps: a read that overlapped one is not cached (it may predate the change). */
  #generation = 0;
  #live = false;
  readonly #loading = new Map<string, Promise<CacheEntry | undefined>>();

  constructor(
    private readonly store: Store,
    private readonly build: (record: RegisteredClientRecord) => Promise<Client>,
    private readonly cacheSize: number,
  ) {
    store.subscribe(CLIENT_CHANGES_CHANNEL, (notice) => this.#hear(notice));
  }

  /** The client as last read by this replica, if it still is in the cache (no store call). */
  cached(clientId: string): Client | undefined {
    const entry = this.#cache.get(clientId);
    return entry && this.#fresh(entry) ? entry.client : undefined;
  }

  /** On the hot path: a cache hit costs no store call and no extra await. */
  get(clientId: string): Promise<Client | undefined> {
    const hit = this.#hit(clientId);
    return hit ? Promise.resolve(hit.client) : this.#loadShared(clientId).then((entry) => entry?.client);
  }

  #hit(clientId: string): CacheEntry | undefined {
    const hit = this.#cache.get(clientId);
    if (!hit || !hit.trusted || !this.#fresh(hit)) return undefined;
    // Map order is recency order.
    this.#cache.delete(clientId);
    this.#cache.set(clientId, hit);
    return hit;
  }

  #loadShared(clientId: string): Promise<CacheEntry | undefined> {
    // Concurrent first requests for one client share one store read and one build.
    let loading = this.#loading.get(clientId);
    if (!loading) {
      const started: Promise<CacheEntry | undefined> = this.#load(clientId).finally(() => {
        if (this.#loading.get(clientId) === started) this.#loading.delete(clientId);
      });
      loading = started;
      this.#loading.set(clientId, loading);
    }
    return loading;
  }

  /** Drops a client from this replica's cache and tells the others to. */
  async announce(clientId: string): Promise<void> {
    this.#forget(clientId);
    await this.store.publish(CLIENT_CHANGES_CHANNEL, clientId);
  }

  async #load(clientId: string): Promise<CacheEntry | undefined> {
    const generation = this.#generation;
    const record = await this.store.get<RegisteredClientRecord>('client', clientId);
    if (!record) return undefined;
    const client = await this.build(record);
    const entry = { client, record, cachedAt: Date.now(), trusted: this.#live && generation === this.#generation };
    // An untrusted entry is kept for `cached` (the request that read it goes on with it) but never answers `get`.
    this.#cache.delete(clientId);
    if (this.#cache.size >= this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(clientId, entry);
    return entry;
  }

  #fresh(entry: CacheEntry): boolean {
    return Date.now() - entry.cachedAt < MAX_CACHE_AGE_MS;
  }

  #forget(clientId: string): void {
    this.#generation++;
    this.#cache.delete(clientId);
    // A read in flight may predate the change: later requests must not join it.
    this.#loading.delete(clientId);
  }

  /** Entries in this replica's cache (for tests and metrics). */
  get cacheSizeNow(): number {
    return this.#cache.size;
  }

  #hear(notice: ChangeNotice): void {
    if (notice.type === 'message') return this.#forget(notice.message);
    this.#generation++;
    this.#loading.clear();
    for (const entry of this.#cache.values()) entry.trusted = false;
    this.#live = notice.type === 'live';
  }
}
