import { randomUUID } from 'node:crypto';
import type { Grants } from '../../../grants/grant.js';
import type { Store } from '../../../store/store.js';

/** A CDR consent arrangement: what a customer shares with one recipient, through one grant at a time. */
export interface Arrangement {
  id: string;
  clientId: string;
  /** The customer's own subject (never the pairwise one a client sees). */
  sub: string;
  /** The grant whose tokens serve the arrangement now; an amendment moves it to a new grant. */
  grantId: string;
  createdAt: number;
  /** Seconds since the epoch: the end of the sharing duration (the access token's end for once-off sharing). */
  expiresAt: number;
  sharingDurationSeconds: number;
}

/** The CDR's view of a grant: `grant.extensions.cdr` (the front door reads it too). */
export interface CdrGrantExtension {
  arrangementId: string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Arrangements in the store, each kept exactly until its end. Ending one ends its grant, and with
 * it every token of the arrangement on every replica (the grant's end marker is in the shared store).
 */
export class Arrangements {
  constructor(
    private readonly store: Store,
    private readonly grants: Grants,
  ) {}

  static newId(): string {
    return randomUUID();
  }

  get(id: string): Promise<Arrangement | undefined> {
    return this.store.get<Arrangement>('arrangement', id);
  }

  async save(arrangement: Arrangement): Promise<void> {
    await this.store.set('arrangement', arrangement.id, arrangement, Math.max(1, arrangement.expiresAt - nowSeconds()));
  }

  /**
   * Ends an arrangement now: its record goes first (so it cannot be amended or revoked twice), then
   * its grant. Resolves with what was ended, or undefined when it was already gone (by then its
   * grant was ended by whoever removed it).
   */
  async end(id: string): Promise<Arrangement | undefined> {
    const arrangement = await this.store.consume<Arrangement>('arrangement', id);
    if (!arrangement) return undefined;
    await this.grants.end(arrangement.grantId);
    return arrangement;
  }
}
