import type { FastifyBaseLogger } from 'fastify';
import type { GatewayContext } from '../../../context.js';
import type { Arrangements } from '../arrangements/arrangements.js';
import type { CdrMetrics } from '../metrics.js';
import type { RevocationNotice, RevocationNotices } from './notices.js';

export interface ArrangementServices {
  arrangements: Arrangements;
  notices: RevocationNotices;
  metrics: CdrMetrics | undefined;
}

const services = new WeakMap<GatewayContext, ArrangementServices>();

/** Called by the pack's start: what withdrawArrangement needs, for the gateway of `ctx`. */
export function registerArrangementServices(ctx: GatewayContext, s: ArrangementServices): void {
  services.set(ctx, s);
}

/** The pack's arrangement services for the gateway of `ctx` (undefined before the pack's start). */
export function arrangementServices(ctx: GatewayContext): ArrangementServices | undefined {
  return services.get(ctx);
}

export type WithdrawalResult =
  | { ended: false }
  | { ended: true; clientId: string; notice: 'queued' | 'no_recipient' | 'queue_full' | 'no_brand_id'; queued?: RevocationNotice };

/**
 * The customer withdraws an arrangement at the bank, or the bank ends it early (the consent-management
 * interface through the onGrantWithdrawn hook, the CLI): every token of it is refused at once on every
 * replica, then the recipient is told through the durable notice queue. `{ended: false}` when there is
 * no such current arrangement.
 */
export async function withdrawArrangement(
  ctx: GatewayContext,
  arrangementId: string,
  log?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>,
  initiator: 'customer' | 'bank' = 'customer',
): Promise<WithdrawalResult> {
  const s = services.get(ctx);
  if (!s) throw new Error('the CDR pack is not started for this gateway');
  const ended = await s.arrangements.end(arrangementId, initiator);
  if (!ended) {
    s.metrics?.revocations.inc({ initiator, outcome: 'invalid_arrangement' });
    return { ended: false };
  }
  s.metrics?.revocations.inc({ initiator, outcome: 'revoked' });
  log?.info({ audit: 'arrangement_revoked', initiator, clientId: ended.clientId, sub: ended.sub, arrangementId }, 'arrangement_revoked');
  const queued = await s.notices.enqueue(ended, log);
  if (queued.outcome === 'no_recipient')
    log?.warn({ audit: 'arrangement_revocation_notice_skipped', clientId: ended.clientId, arrangementId }, 'the client has no recipient_base_uri: the recipient is not told');
  return { ended: true, clientId: ended.clientId, notice: queued.outcome, ...(queued.outcome === 'queued' ? { queued: queued.notice } : {}) };
}
