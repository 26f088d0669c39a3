import type { FastifyRequest } from 'fastify';
import { PATHS } from '../../../config/urls.js';

/** The CDS performance tiers this gateway can tell apart (secondary-holder tiers do not apply: it serves no shared responsibility requests). */
export const TIERS = ['unauthenticated', 'highPriority', 'lowPriority', 'unattended', 'largePayload'] as const;
export type Tier = (typeof TIERS)[number];

/** CDS non-functional requirements: the response time each tier must meet (seconds). */
const THRESHOLD_SECONDS: Record<Tier, number> = { unauthenticated: 1.5, highPriority: 1, lowPriority: 1.5, unattended: 4, largePayload: 6 };
const HIGH_PRIORITY = new Set<string>([PATHS.authorization, PATHS.par, PATHS.token, PATHS.userinfo, PATHS.introspection, PATHS.revocation, PATHS.registration, `${PATHS.registration}/:clientId`]);
const UNAUTHENTICATED = new Set<string>([PATHS.discovery, PATHS.oauthMetadata, PATHS.jwks]);
const UNAUTHENTICATED_PREFIXES = ['/cds-au/v1/discovery/', '/cds-au/v1/banking/products', '/cds-au/v1/energy/plans'];
/** The bulk endpoints (the CDS large payload tier). */
const LARGE_PAYLOAD = /\/(banking\/accounts\/(balances|direct-debits)|banking\/payments\/scheduled|energy\/accounts\/(usage|der|invoices|billing))$/;
const DAYS_KEPT = 7;

export interface DayRecord {
  /** UTC date (YYYY-MM-DD): the CDS leaves the day's time zone to the holder; this gateway uses UTC. */
  date: string;
  /** When this replica began counting the day (ms): the day's seconds observed start here. */
  since: number;
  /** When the day was last counted into (ms). */
  until: number;
  invocations: Record<Tier, number>;
  seconds: Record<Tier, number>;
  /** Per UTC hour: calls, and calls within the tier's threshold. */
  hourly: Record<Tier, { calls: number[]; within: number[] }>;
  errors: { authenticated: Record<string, number>; unauthenticated: Record<string, number> };
  rejections: { authenticated: number; unauthenticated: number };
  sessions: number;
  peakTps: { authenticated: number; unauthenticated: number; aggregate: number };
}

const perTier = <T>(make: () => T) => Object.fromEntries(TIERS.map((t) => [t, make()])) as Record<Tier, T>;

function newDay(date: string, now: number): DayRecord {
  return {
    date,
    since: now,
    until: now,
    invocations: perTier(() => 0),
    seconds: perTier(() => 0),
    hourly: perTier(() => ({ calls: new Array<number>(24).fill(0), within: new Array<number>(24).fill(0) })),
    errors: { authenticated: {}, unauthenticated: {} },
    rejections: { authenticated: 0, unauthenticated: 0 },
    sessions: 0,
    peakTps: { authenticated: 0, unauthenticated: 0, aggregate: 0 },
  };
}

/** Which tier a request belongs to, or undefined for calls the CDS does not count (the Register's admin calls, unrouted requests). */
export function tierOf(route: string, request: FastifyRequest): Tier | undefined {
  if (route === 'unmatched' || route.startsWith('/cds-au/v1/admin/')) return undefined;
  if (UNAUTHENTICATED.has(route) || UNAUTHENTICATED_PREFIXES.some((p) => route.startsWith(p) || request.url.startsWith(p))) return 'unauthenticated';
  if (HIGH_PRIORITY.has(route) || route.startsWith('/interactions') || route.startsWith('/arrangements')) return 'highPriority';
  if (request.headers['x-fapi-customer-ip-address'] === undefined) return 'unattended';
  return LARGE_PAYLOAD.test(request.url.split('?')[0]) ? 'largePayload' : 'lowPriority';
}

/**
 * This replica's service counts by UTC day (today and the seven days before), as the CDS Get Metrics
 * payload reports them: invocations, response times and the share within each tier's threshold per
 * hour, errors, rejections, sessions (access tokens issued) and transactions per second.
 */
export class ServiceLedger {
  #days: DayRecord[] = [];
  #second = { at: 0, authenticated: 0, unauthenticated: 0 };

  constructor(private readonly clock: () => number = Date.now) {}

  record(route: string, request: FastifyRequest, status: number, seconds: number): void {
    const tier = tierOf(route, request);
    if (tier === undefined) return;
    const now = this.clock();
    const day = this.#today(now);
    day.until = now;
    const kind = tier === 'unauthenticated' ? 'unauthenticated' : 'authenticated';
    if (status === 429) {
      day.rejections[kind]++;
      return;
    }
    day.invocations[tier]++;
    day.seconds[tier] += seconds;
    const hour = new Date(now).getUTCHours();
    day.hourly[tier].calls[hour]++;
    if (seconds <= THRESHOLD_SECONDS[tier]) day.hourly[tier].within[hour]++;
    if (status >= 500) day.errors[kind][String(status)] = (day.errors[kind][String(status)] ?? 0) + 1;
    if (route === PATHS.token && status === 200) day.sessions++;
    this.#countSecond(now, kind, day);
  }

  /** Today first, then the previous days this replica counted (at most seven). */
  days(): { today: DayRecord; previous: DayRecord[] } {
    const today = this.#today(this.clock());
    return { today, previous: this.#days.slice(1) };
  }

  #today(now: number): DayRecord {
    const date = new Date(now).toISOString().slice(0, 10);
    if (this.#days[0]?.date !== date) {
      this.#days.unshift(newDay(date, now));
      this.#days.length = Math.min(this.#days.length, DAYS_KEPT + 1);
    }
    return this.#days[0];
  }

  #countSecond(now: number, kind: 'authenticated' | 'unauthenticated', day: DayRecord): void {
    const second = Math.floor(now / 1000);
    if (second !== this.#second.at) this.#second = { at: second, authenticated: 0, unauthenticated: 0 };
    this.#second[kind]++;
    day.peakTps[kind] = Math.max(day.peakTps[kind], this.#second[kind]);
    day.peakTps.aggregate = Math.max(day.peakTps.aggregate, this.#second.authenticated + this.#second.unauthenticated);
  }
}
