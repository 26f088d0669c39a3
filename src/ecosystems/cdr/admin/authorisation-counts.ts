import { isCurrent, type Arrangement, type Arrangements, type CustomerType } from '../arrangements/arrangements.js';

const DAY_MS = 86_400_000;
/** Today and the seven days before (CDS: "a maximum of seven entries"). */
const DAYS = 8;

type ByCustomer = Record<CustomerType, number>;
const byCustomer = (): ByCustomer => ({ individual: 0, nonIndividual: 0 });

export interface DayCounts {
  newOnceOff: ByCustomer;
  newOngoing: ByCustomer;
  revoked: ByCustomer;
  amended: ByCustomer;
  expired: ByCustomer;
}

/** What the arrangements in the store say, as the CDS Get Metrics `authorisations`, `customerCount` and `recipientCount` report it. */
export interface AuthorisationCounts {
  /** Current ongoing arrangements (sharing_duration > 0). */
  active: ByCustomer;
  /** Customers with a current arrangement (once-off included). */
  customers: number;
  /** Software products with a current arrangement. */
  recipients: number;
  /** Index 0: today (UTC), then yesterday and so on, seven days back. */
  days: DayCounts[];
}

/**
 * Counts the arrangements, every replica's, from their records (kept through the reporting window
 * after they end): new ones by the day they were made (once-off or ongoing), amendments, revocations
 * (by the recipient, the customer, the bank or the Register) and ongoing ones that ran out, each by
 * UTC day and customer type. Days are the same UTC days as the service counts.
 */
export async function authorisationCounts(
  arrangements: Arrangements,
  nowMs = Date.now(),
  /** Whether a client still exists: a deleted registration's arrangements serve nothing and are not counted as active. */
  clientExists: (clientId: string) => Promise<boolean> = async () => true,
): Promise<AuthorisationCounts> {
  const todayStart = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const now = Math.floor(nowMs / 1000);
  const dayOf = (seconds: number): number | undefined => {
    if (seconds > now) return undefined;
    const index = Math.floor((todayStart - Math.floor((seconds * 1000) / DAY_MS) * DAY_MS) / DAY_MS);
    return index >= 0 && index < DAYS ? index : undefined;
  };
  const counts: AuthorisationCounts = {
    active: byCustomer(),
    customers: 0,
    recipients: 0,
    days: Array.from({ length: DAYS }, () => ({ newOnceOff: byCustomer(), newOngoing: byCustomer(), revoked: byCustomer(), amended: byCustomer(), expired: byCustomer() })),
  };
  const customers = new Set<string>();
  const recipients = new Set<string>();
  const count = (seconds: number | undefined, field: keyof DayCounts, type: CustomerType) => {
    const day = seconds === undefined ? undefined : dayOf(seconds);
    if (day !== undefined) counts.days[day][field][type]++;
  };
  const existing = new Map<string, boolean>();
  await arrangements.each(async (a: Arrangement) => {
    const type = a.customerType ?? 'individual';
    const ongoing = a.sharingDurationSeconds > 0;
    if (isCurrent(a, now) && !existing.has(a.clientId)) existing.set(a.clientId, await clientExists(a.clientId));
    if (isCurrent(a, now) && existing.get(a.clientId)) {
      if (ongoing) counts.active[type]++;
      customers.add(a.sub);
      recipients.add(a.softwareId ?? a.clientId);
    }
    count(a.createdAt, ongoing ? 'newOngoing' : 'newOnceOff', type);
    for (const at of a.amendedAt ?? []) count(at, 'amended', type);
    if (a.endedAt !== undefined) count(a.endedAt, 'revoked', type);
    // Ran out: an ongoing arrangement nobody ended before its sharing duration did.
    else if (ongoing) count(a.expiresAt, 'expired', type);
  });
  counts.customers = customers.size;
  counts.recipients = recipients.size;
  return counts;
}
