import { randomUUID } from 'node:crypto';
import type { Grants } from '../../../grants/grant.js';
import type { Store } from '../../../store/store.js';

/** How the CDS counts a customer in its authorisation metrics. */
export type CustomerType = 'individual' | 'nonIndividual';

/** Who ended an arrangement before its time: the recipient, the customer or the bank (at the bank), the CDR Register (product removed). */
export type EndedBy = 'recipient' | 'customer' | 'bank' | 'register';

/** A CDR consent arrangement: what a customer shares with one recipient, through one grant at a time. */
export interface Arrangement {
  id: string;
  clientId: string;
  /** The recipient's software product (the client's software_id, else its client id): the Register's unit. */
  softwareId?: string;
  /** The customer's own subject (never the pairwise one a client sees). */
  sub: string;
  /** Absent in records written before it was kept: counted as individual. */
  customerType?: CustomerType;
  /** The grant whose tokens serve the arrangement now; an amendment moves it to a new grant. */
  grantId: string;
  createdAt: number;
  /** Seconds since the epoch: the end of the sharing duration (the access token's end for once-off sharing). */
  expiresAt: number;
  sharingDurationSeconds: number;
  /** When it was amended (seconds since the epoch), within the reporting window. */
  amendedAt?: number[];
  /** When it was ended before its time, and by whom; absent while current and when it simply ran out. */
  endedAt?: number;
  endedBy?: EndedBy;
}

/** The CDR's view of a grant: `grant.extensions.cdr` (the front door reads it too). */
export interface CdrGrantExtension {
  arrangementId: string;
}

const DAY_SECONDS = 86_400;
/**
 * An arrangement's record outlives its end by this long: the Register's Get Metrics reports today and
 * the seven days before, and counts what ended, expired or was amended on each of them.
 */
export const REPORTING_SECONDS = 8 * DAY_SECONDS;
const SCAN_BATCH = 256;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Current: neither ended nor past its sharing duration. Only a current arrangement may be amended or revoked. */
export function isCurrent(arrangement: Arrangement, now = nowSeconds()): boolean {
  return arrangement.endedAt === undefined && arrangement.expiresAt > now;
}

/**
 * Arrangements in the store, listed in the bounded set `arrangements` so that they can be counted and
 * ended together (a software product the Register removed). A record is kept through the reporting
 * window after its end, marked ended, so that introspection, resources and the admin counts see one
 * story. Ending one ends its grant, and with it every token of the arrangement on every replica (the
 * grant's end marker is in the shared store).
 */
export class Arrangements {
  constructor(
    private readonly store: Store,
    private readonly grants: Grants,
    private readonly maxTracked: number,
  ) {}

  static newId(): string {
    return randomUUID();
  }

  /** The record, current or not (undefined once its reporting window is over). */
  get(id: string): Promise<Arrangement | undefined> {
    return this.store.get<Arrangement>('arrangement', id);
  }

  /** The arrangement when it is current, else undefined. */
  async current(id: string): Promise<Arrangement | undefined> {
    const arrangement = await this.get(id);
    return arrangement && isCurrent(arrangement) ? arrangement : undefined;
  }

  /**
   * Writes the record (kept through the reporting window after its end) and lists it, in that order
   * (a listed id without its record is dropped from the list), in one store call; 'untracked' when
   * the list is full.
   */
  async save(arrangement: Arrangement): Promise<'tracked' | 'untracked'> {
    const end = arrangement.endedAt ?? arrangement.expiresAt;
    const [, listed] = await this.store.sequence([
      { set: 'arrangement', id: arrangement.id, value: arrangement, ttlSeconds: Math.max(1, end - nowSeconds()) + REPORTING_SECONDS },
      { addMember: 'arrangements', member: arrangement.id, max: this.maxTracked },
    ]);
    return listed === 'full' ? 'untracked' : 'tracked';
  }

  /**
   * Ends a current arrangement now, once (of two concurrent callers one wins): it is marked ended,
   * then its grant ends. Resolves with what was ended, or undefined when it was not current.
   */
  async end(id: string, by: EndedBy): Promise<Arrangement | undefined> {
    const arrangement = await this.current(id);
    if (!arrangement) return undefined;
    const now = nowSeconds();
    if (!(await this.store.setIfAbsent('ecosystem', endMarker(id), by, Math.max(1, arrangement.expiresAt - now) + REPORTING_SECONDS))) return undefined;
    // Read again behind the marker: an amendment saved meanwhile moved it to a new grant, which ends
    // too (an amendment saving after this read sees the marker and ends its own grant).
    const latest = (await this.get(id)) ?? arrangement;
    const ended: Arrangement = { ...latest, endedAt: now, endedBy: by };
    await this.save(ended);
    await this.grants.end(latest.grantId);
    if (latest.grantId !== arrangement.grantId) await this.grants.end(arrangement.grantId);
    return ended;
  }

  /** Who ended the arrangement, when something did (an amendment racing with a revocation checks this after writing). */
  endedBy(id: string): Promise<EndedBy | undefined> {
    return this.store.get<EndedBy>('ecosystem', endMarker(id));
  }

  /**
   * Every listed record, in batches; ids whose record is gone (past its reporting window) leave the
   * list. Costs a store read per arrangement: for the Register's calls and status changes, not hot paths.
   */
  async each(visit: (arrangement: Arrangement) => void | Promise<void>): Promise<void> {
    const ids = await this.store.members('arrangements');
    for (let i = 0; i < ids.length; i += SCAN_BATCH) {
      const batch = ids.slice(i, i + SCAN_BATCH);
      const records = await Promise.all(batch.map((id) => this.get(id)));
      for (let j = 0; j < batch.length; j++) {
        const record = records[j];
        if (record) await visit(record);
        else await this.store.removeMember('arrangements', batch[j]);
      }
    }
  }

  /** Ends every current arrangement of these clients; resolves with those it ended. */
  async endAllOf(clientIds: ReadonlySet<string>, by: EndedBy): Promise<Arrangement[]> {
    const targets: string[] = [];
    await this.each((a) => {
      if (clientIds.has(a.clientId) && isCurrent(a)) targets.push(a.id);
    });
    const ended: Arrangement[] = [];
    for (const id of targets) {
      const done = await this.end(id, by);
      if (done) ended.push(done);
    }
    return ended;
  }
}

const endMarker = (id: string) => `cdr:arrangement-ended:${id}`;
