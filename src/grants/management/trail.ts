import { randomBase64url } from '../../tokens/secrets.js';
import type { IndexEntry, Store } from '../../store/store.js';

/** What happened to a grant. `expired` is never written: it is read off a grant that is gone without an end. */
export type TrailEvent = 'created' | 'refreshed' | 'amended' | 'withdrawn' | 'revoked' | 'expired';

/** Who ended or changed a grant, where it matters: the customer (at the bank), the bank, the client. */
export type TrailActor = 'customer' | 'bank' | 'client';

export interface TrailEntry {
  /** Milliseconds since the epoch. */
  at: number;
  event: TrailEvent;
  by?: TrailActor;
  /** The scope the grant holds after the event (created, amended). */
  scope?: string;
  /** Seconds since the epoch until which the grant is kept after the event (created, refreshed): when it expires unless something else happens. */
  until?: number;
}

/** How grants are indexed and how long their trails are kept. */
export interface GrantIndexSettings {
  maxPerCustomer: number;
  maxPerClient: number;
  trailRetentionSeconds: number;
  /** Entries a trail keeps: past it, the oldest refreshes go (its creation and its end stay). */
  maxTrailEntries: number;
}

export const DEFAULT_GRANT_INDEX_SETTINGS: GrantIndexSettings = {
  maxPerCustomer: 500,
  maxPerClient: 100_000,
  trailRetentionSeconds: 90 * 86_400,
  maxTrailEntries: 200,
};

const TERMINAL: ReadonlySet<TrailEvent> = new Set(['withdrawn', 'revoked', 'expired']);

/**
 * A trail entry as an index member: the trail index is ordered by expiry, so refreshes expire a
 * second before the milestones (creation, an end) and go first when a trail is full; among equal
 * expiries the member's JSON, which begins with the time, puts the oldest refreshes first in line.
 */
export function trailEntry(grantId: string, entry: TrailEntry, keepUntil: number, settings: GrantIndexSettings): IndexEntry {
  const milestone = entry.event !== 'refreshed';
  const { at, event, ...rest } = entry;
  return {
    kind: 'grant-trail',
    key: grantId,
    // A few random bytes keep two events of the same millisecond apart (a member is a set's element).
    member: JSON.stringify({ at, event, ...rest, n: randomBase64url(4) }),
    expiresAt: keepUntil + settings.trailRetentionSeconds - (milestone ? 0 : 1),
    max: settings.maxTrailEntries,
  };
}

/**
 * A grant's life in order of time. A grant that is gone without having been ended expired when it
 * was last due to (the last `until` recorded), or is reported expiring now when that is unknown.
 */
export async function readTrail(store: Store, grantId: string, stillLive: boolean): Promise<TrailEntry[]> {
  const entries = (await store.indexMembers('grant-trail', grantId)).flatMap((member) => {
    try {
      return [JSON.parse(member) as TrailEntry];
    } catch {
      return [];
    }
  });
  // Within one millisecond a creation comes first and an end last.
  const rank = (e: TrailEntry) => (e.event === 'created' ? 0 : TERMINAL.has(e.event) ? 2 : 1);
  entries.sort((a, b) => a.at - b.at || rank(a) - rank(b));
  if (entries.length === 0 || stillLive || entries.some((e) => TERMINAL.has(e.event))) return entries;
  const until = Math.max(...entries.map((e) => e.until ?? 0));
  entries.push({ at: until > 0 ? Math.min(until * 1000, Date.now()) : Date.now(), event: 'expired' });
  return entries;
}
