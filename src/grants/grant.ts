import { randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { ClaimsRequest } from '../oauth/authorization-request.js';
import { grantEnd, grantTtlSeconds, type GrantLifetimes } from './grant-lifetime.js';

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
  return randomBytes(16).toString('base64url');
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class Grants {
  constructor(
    private readonly store: Store,
    readonly lifetimes: GrantLifetimes,
  ) {}

  /** Writes a new grant, kept as long as the tokens its code can bring (see grantTtlSeconds). */
  async save(grant: Grant): Promise<void> {
    await this.store.set('grant', grant.id, grant, grantTtlSeconds(grant, this.lifetimes, nowSeconds(), true));
    // An ecosystem may end a grant between its creation and this write (a consent revoked meanwhile):
    // the end's marker then wins, as in extend().
    if (this.lifetimes.endableBeforeSave && (await this.store.anyExists([['grant-ended', grant.id]]))) await this.store.delete('grant', grant.id);
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
   * kept as long as an access token issued from the grant can live, no longer.
   */
  async end(id: string): Promise<void> {
    await this.store.set('grant-ended', id, 1, this.lifetimes.accessToken);
    await this.store.delete('grant', id);
  }
}
