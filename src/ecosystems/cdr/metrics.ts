import { Counter, type Registry } from 'prom-client';

/** The CDR pack's series, in the gateway's registry. Labels are fixed words, never ids. */
export function cdrMetrics(registry: Registry) {
  return {
    arrangements: new Counter({
      name: 'fapi_gateway_cdr_arrangements_total',
      help: 'CDR arrangements created or amended by an authorization; untracked: past ecosystem.arrangements.maxTracked, not listed for counting.',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    revocations: new Counter({
      name: 'fapi_gateway_cdr_arrangement_revocations_total',
      help: 'CDR arrangement revocations, by who revoked (recipient, customer, bank, register) and outcome (revoked, invalid_arrangement).',
      labelNames: ['initiator', 'outcome'] as const,
      registers: [registry],
    }),
    notices: new Counter({
      name: 'fapi_gateway_cdr_revocation_notices_total',
      help: 'Outbound arrangement revocation notices to recipients, by outcome (queued, delivered, retry, abandoned, expired, queue_full).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}
export type CdrMetrics = ReturnType<typeof cdrMetrics>;
