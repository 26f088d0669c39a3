import { randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { ClaimsRequest } from '../oauth/authorization-request.js';

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
  claims?: ClaimsRequest;
  createdAt: number;
  /** Seconds since the epoch after which the grant is over; undefined when it lasts until ended. */
  expiresAt?: number;
  extensions: Record<string, unknown>;
}

export function newGrantId(): string {
  return randomBytes(16).toString('base64url');
}

export class Grants {
  constructor(
    private readonly store: Store,
    /** How long an ended grant is remembered: the longest an access token from it can live. */
    private readonly endedRetentionSeconds: number,
  ) {}

  async save(grant: Grant): Promise<void> {
    const ttl = grant.expiresAt === undefined ? 400 * 86_400 : Math.max(1, grant.expiresAt - Math.floor(Date.now() / 1000));
    await this.store.set('grant', grant.id, grant, ttl);
  }

  get(id: string): Promise<Grant | undefined> {
    return this.store.get<Grant>('grant', id);
  }

  /** Deletes a grant that was written but never used (no token points to it). */
  async discard(id: string): Promise<void> {
    await this.store.delete('grant', id);
  }

  /** Ends a grant: its refresh tokens stop working and its access tokens are refused. */
  async end(id: string): Promise<void> {
    await this.store.set('grant-ended', id, 1, this.endedRetentionSeconds);
    await this.store.delete('grant', id);
  }
}
