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

/**
 * The CDS Get Metrics v5 payload from this gateway's own counts. What it cannot measure honestly is
 * left out where the CDS makes it conditional: availability (it would need the platform's outage
 * record), the secondary-holder tiers (no shared responsibility requests), and the authorisation,
 * customer and recipient counts (the arrangements are not counted here).
 */
export function metricsPayload(ledger: ServiceLedger, period: Period, self: string, now = Date.now()): Record<string, unknown> {
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
      authorisations: {
        abandonedConsentFlowCount: {},
        abandonmentsByStage: {},
        newAuthorisationCount: {},
        revokedAuthorisationCount: {},
        amendedAuthorisationCount: {},
        expiredAuthorisationCount: {},
      },
    },
    links: { self },
    meta: {},
  };
}
