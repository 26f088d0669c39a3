import type { AuthorisationCounts, DayCounts } from './authorisation-counts.js';
import { TIERS, type DayRecord, type ServiceLedger } from './service-ledger.js';

export type Period = 'CURRENT' | 'HISTORIC' | 'ALL';

const DAY_MS = 86_400_000;
const rate = (within: number, calls: number) => (calls === 0 ? '1.0' : (within / calls).toFixed(4));
const round = (n: number, digits = 3) => Number(n.toFixed(digits));
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Seconds of the day this replica counted: from when it began to the day's end, or now for today. */
function observedSeconds(day: DayRecord, now: number): number {
  const end = Math.min(Date.parse(`${day.date}T00:00:00Z`) + DAY_MS, now);
  return Math.max(1, (end - day.since) / 1000);
}

/** The abandonment stages of the CDS consent flow (AuthorisationMetricsV2.abandonmentsByStage). */
const ABANDONMENT_STAGES = ['preIdentification', 'preAuthentication', 'preAccountSelection', 'preAuthorisation', 'rejected', 'failedTokenExchange'] as const;

/**
 * The CDS Get Metrics v5 payload from this gateway's own counts: the service figures from this
 * replica's ledger, the authorisation, customer and recipient counts from the arrangements in the
 * shared store. What it cannot measure honestly is given the schema's empty value where the CDS makes
 * it conditional: availability (it would need the platform's outage record), the secondary-holder
 * tiers (no shared responsibility requests), and the abandoned consent flows (see docs/cdr-registration.md).
 */
export function metricsPayload(ledger: ServiceLedger, authorisations: AuthorisationCounts, period: Period, self: string, now = Date.now()): Record<string, unknown> {
  const { today, previous } = ledger.days();
  const current = period !== 'HISTORIC';
  const historic = period !== 'CURRENT';
  const over = <T>(of: (day: DayRecord, isToday: boolean) => T) => ({
    ...(current ? { currentDay: of(today, true) } : {}),
    ...(historic ? { previousDays: previous.map((d) => of(d, false)) } : {}),
  });
  const hoursSoFar = (day: DayRecord, isToday: boolean) => (isToday ? new Date(now).getUTCHours() + 1 : 24);
  const calls = (day: DayRecord, tiers: readonly (typeof TIERS)[number][]) => sum(tiers.map((t) => day.invocations[t]));
  const authenticatedTiers = TIERS.filter((t) => t !== 'unauthenticated');
  const errorCount = (day: DayRecord) => sum(Object.values(day.errors.authenticated)) + sum(Object.values(day.errors.unauthenticated));

  const overDays = <T>(of: (day: DayCounts) => T) => ({
    ...(current ? { currentDay: of(authorisations.days[0]) } : {}),
    ...(historic ? { previousDays: authorisations.days.slice(1).map(of) } : {}),
  });

  const perTier = <T>(of: (day: DayRecord, tier: (typeof TIERS)[number], isToday: boolean) => T) =>
    Object.fromEntries(TIERS.map((tier) => [tier, over((day, isToday) => of(day, tier, isToday))]));

  return {
    data: {
      requestTime: new Date(now).toISOString(),
      availability: { aggregate: {}, unauthenticated: {}, authenticated: {} },
      performance: {
        aggregate: over((day) => rate(sum(TIERS.map((t) => sum(day.hourly[t].within))), calls(day, TIERS))),
        ...perTier((day, tier, isToday) => day.hourly[tier].calls.slice(0, hoursSoFar(day, isToday)).map((c, h) => rate(day.hourly[tier].within[h], c))),
      },
      invocations: perTier((day, tier) => day.invocations[tier]),
      averageResponse: perTier((day, tier) => (day.invocations[tier] === 0 ? 0 : round(day.seconds[tier] / day.invocations[tier]))),
      sessionCount: over((day) => day.sessions),
      averageTps: {
        aggregate: over((day, isToday) => round(calls(day, TIERS) / observedSeconds(day, isToday ? now : Infinity), 4)),
        unauthenticated: over((day, isToday) => round(day.invocations.unauthenticated / observedSeconds(day, isToday ? now : Infinity), 4)),
        authenticated: over((day, isToday) => round(calls(day, authenticatedTiers) / observedSeconds(day, isToday ? now : Infinity), 4)),
      },
      peakTps: {
        aggregate: over((day) => day.peakTps.aggregate),
        unauthenticated: over((day) => day.peakTps.unauthenticated),
        authenticated: over((day) => day.peakTps.authenticated),
      },
      errors: {
        aggregate: over((day) => errorCount(day)),
        unauthenticated: over((day) => ({ ...day.errors.unauthenticated })),
        authenticated: over((day) => ({ ...day.errors.authenticated })),
      },
      rejections: {
        authenticated: over((day) => day.rejections.authenticated),
        unauthenticated: over((day) => day.rejections.unauthenticated),
      },
      customerCount: authorisations.customers,
      recipientCount: authorisations.recipients,
      authorisations: {
        activeAuthorisationCount: { ...authorisations.active },
        newAuthorisationCount: overDays((day) => ({ onceOff: { ...day.newOnceOff }, ongoing: { ...day.newOngoing } })),
        revokedAuthorisationCount: overDays((day) => ({ ...day.revoked })),
        amendedAuthorisationCount: overDays((day) => ({ ...day.amended })),
        expiredAuthorisationCount: overDays((day) => ({ ...day.expired })),
        // Not counted (docs/cdr-registration.md): the CDS leaves both members conditional.
        abandonedConsentFlowCount: {},
        abandonmentsByStage: Object.fromEntries(ABANDONMENT_STAGES.map((stage) => [stage, {}])),
      },
    },
    links: { self },
    meta: {},
  };
}
