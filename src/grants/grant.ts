import { randomBase64url } from '../tokens/secrets.js';
import type { Store } from '../store/store.js';
import type { ClaimsRequest } from '../oauth/authorization-request.js';
import { grantEnd, grantTtlSeconds, type GrantLifetimes } from './grant-lifetime.js';
import { DEFAULT_GRANT_INDEX_SETTINGS, trailEntry, type GrantIndexSettings, type TrailActor, type TrailEntry } from './management/trail.js';
import type { IndexEntry } from '../store/store.js';

/**
 * What a user (or, for client credentials, the client itself) granted a client. Tokens point to their
 * grant; ending the grant ends every token issued from it. Ecosystems attach consents or
 * arrangements through `extensions`.
 */
export interface Grant {
  id: string;
  clientId: string;
  /** The user's subject; the client_id for client_credentials. */
  sub: string;
  scope: string;
  authTime?: number;
  acr?: string;
  /** How the customer authenticated (RFC 8176), as the login recorded it. */
  amr?: string[];
  claims?: ClaimsRequest;
  /** Claims about the customer asserted by the bank's login (external and oidc modes); built-in users' come from the config. */
  userClaims?: Record<string, unknown>;
  createdAt: number;
  /** The accounts the customer chose to share at consent (ids as the bank knows them); passed upstream in `x-authenticated-account-ids`. */
  accountIds?: string[];
  /** Seconds since the epoch after which the grant is over; undefined when it lasts until ended (or its maximum). */
  expiresAt?: number;
  extensions: Record<string, unknown>;
}

export function newGrantId(): string {
  return randomBase64url(16);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class Grants {
  constructor(
    private readonly store: Store,
    readonly lifetimes: GrantLifetimes,
    readonly indexing: GrantIndexSettings = DEFAULT_GRANT_INDEX_SETTINGS,
  ) {}

  /**
   * Writes a new grant, kept as long as the tokens its code can bring (see grantTtlSeconds). A
   * customer's grant is also indexed under the customer and the client, and its trail begun, in one
   * more store call sent with the grant's write; `indexed: false` for a client's own (client_credentials).
   */
  async save(grant: Grant, { indexed = true }: { indexed?: boolean } = {}): Promise<void> {
    const now = nowSeconds();
    const ttl = grantTtlSeconds(grant, this.lifetimes, now, true);
    await Promise.all([
      // An ecosystem may end a grant between its creation and this write (a consent revoked
      // meanwhile): the end's marker then wins, as in extend().
      this.lifetimes.endableBeforeSave ? this.#writeUnlessEnded(grant, ttl) : this.store.set('grant', grant.id, grant, ttl),
      indexed ? this.store.index(this.#indexEntries(grant, now + ttl, { at: Date.now(), event: 'created', scope: grant.scope, until: now + ttl })) : undefined,
    ]);
  }

  /**
   * Keeps a grant as long as a refresh token just issued from it (rotation), never past its end. An
   * end racing with this wins: the grant is written first and then checked against the end's marker,
   * which the end writes before deleting the grant, so one of the two deletes it.
   */
  async extend(grant: Grant): Promise<void> {
    await this.store.set('grant', grant.id, grant, grantTtlSeconds(grant, this.lifetimes, nowSeconds(), false));
    if (await this.store.anyExists([['grant-ended', grant.id]])) await this.store.delete('grant', grant.id);
  }

  /**
   * As extend() does it, with the check sent with the write (one round trip where the store can keep
   * the two in order): for a new grant on the authorization's hot path.
   */
  async #writeUnlessEnded(grant: Grant, ttl: number): Promise<void> {
    const [, live] = await this.store.sequence([
      { set: 'grant', id: grant.id, value: grant, ttlSeconds: ttl },
      { absent: 'grant-ended', id: grant.id },
    ]);
    if (!live) await this.store.delete('grant', grant.id);
  }

  /**
   * A refresh of the grant's tokens: with rotation the grant is kept longer (extend) and its indexes
   * follow; the trail hears of it either way, in the same round trip.
   */
  async refreshed(grant: Grant, rotated: boolean): Promise<void> {
    const now = nowSeconds();
    if (!rotated) return this.store.index([trailEntry(grant.id, { at: Date.now(), event: 'refreshed' }, grantEnd(grant, this.lifetimes), this.indexing)]);
    const until = now + grantTtlSeconds(grant, this.lifetimes, now, false);
    await Promise.all([this.extend(grant), this.store.index(this.#indexEntries(grant, until, { at: Date.now(), event: 'refreshed', until }))]);
  }

  /**
   * Replaces what a grant holds (OpenID Grant Management's merge and replace): same id, same customer
   * and client, so its earlier tokens stay its own. Kept as a new grant would be, and noted on its trail.
   */
  async amend(grant: Grant): Promise<void> {
    const now = nowSeconds();
    const ttl = grantTtlSeconds(grant, this.lifetimes, now, true);
    await Promise.all([
      this.store.set('grant', grant.id, grant, ttl),
      this.store.index(this.#indexEntries(grant, now + ttl, { at: Date.now(), event: 'amended', scope: grant.scope, until: now + ttl })),
    ]);
    if (await this.store.anyExists([['grant-ended', grant.id]])) await this.store.delete('grant', grant.id);
  }

  /** The ids of a customer's or a client's grants that may still be live (a grant read as gone is no longer). */
  indexed(by: 'customer' | 'client', key: string): Promise<string[]> {
    return this.store.indexMembers(by === 'customer' ? 'grants-by-subject' : 'grants-by-client', key);
  }

  /** Drops a grant known to be gone from its customer's and client's indexes. */
  async unindex(grant: Pick<Grant, 'id' | 'sub' | 'clientId'>): Promise<void> {
    await Promise.all([this.store.unindex('grants-by-subject', grant.sub, grant.id), this.store.unindex('grants-by-client', grant.clientId, grant.id)]);
  }

  /** The grant's own index entries and a trail entry, the indexes kept until `until` (the grant's own record's expiry). */
  #indexEntries(grant: Grant, until: number, entry: TrailEntry): IndexEntry[] {
    return [
      { kind: 'grants-by-subject', key: grant.sub, member: grant.id, expiresAt: until, max: this.indexing.maxPerCustomer },
      { kind: 'grants-by-client', key: grant.clientId, member: grant.id, expiresAt: until, max: this.indexing.maxPerClient },
      trailEntry(grant.id, entry, grantEnd(grant, this.lifetimes), this.indexing),
    ];
  }

  /** Seconds until the grant is over: nothing issued from it needs to be kept longer. */
  remainingSeconds(grant: Grant): number {
    return grantEnd(grant, this.lifetimes) - nowSeconds();
  }

  get(id: string): Promise<Grant | undefined> {
    return this.store.get<Grant>('grant', id);
  }

  /** Deletes a grant that was written but never used (no token points to it). */
  async discard(id: string): Promise<void> {
    await this.store.delete('grant', id);
  }

  /**
   * Ends a grant: its refresh tokens stop working and its access tokens are refused. The marker is
   * kept as long as an access token issued from the grant can live, no longer. The trail notes how
   * (`revoked` by default: the client, or its ecosystem, ended it; `withdrawn` at the bank).
   */
  async end(id: string, how: { event: 'revoked' | 'withdrawn'; by?: TrailActor } = { event: 'revoked' }): Promise<void> {
    const now = nowSeconds();
    await Promise.all([
      this.store.set('grant-ended', id, 1, this.lifetimes.accessToken),
      this.store.index([trailEntry(id, { at: Date.now(), ...how }, now, this.indexing)]),
    ]);
    await this.store.delete('grant', id);
  }
}
