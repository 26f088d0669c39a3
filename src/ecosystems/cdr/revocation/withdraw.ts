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

export type WithdrawalResult =
  | { ended: false }
  | { ended: true; clientId: string; notice: 'queued' | 'no_recipient' | 'queue_full' | 'no_brand_id'; queued?: RevocationNotice };

/**
 * The customer withdraws an arrangement at the bank (the consent-management interface, the CLI):
 * every token of it is refused at once on every replica, then the recipient is told through the
 * durable notice queue. `{ended: false}` when there is no such current arrangement.
 */
export async function withdrawArrangement(ctx: GatewayContext, arrangementId: string, log?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>): Promise<WithdrawalResult> {
  const s = services.get(ctx);
  if (!s) throw new Error('the CDR pack is not started for this gateway');
  const ended = await s.arrangements.end(arrangementId);
  if (!ended) {
    s.metrics?.revocations.inc({ initiator: 'customer', outcome: 'invalid_arrangement' });
    return { ended: false };
  }
  s.metrics?.revocations.inc({ initiator: 'customer', outcome: 'revoked' });
  log?.info({ audit: 'arrangement_revoked', initiator: 'customer', clientId: ended.clientId, arrangementId }, 'arrangement_revoked');
  const queued = await s.notices.enqueue(ended, log);
  if (queued.outcome === 'no_recipient')
    log?.warn({ audit: 'arrangement_revocation_notice_skipped', clientId: ended.clientId, arrangementId }, 'the client has no recipient_base_uri: the recipient is not told');
  return { ended: true, clientId: ended.clientId, notice: queued.outcome, ...(queued.outcome === 'queued' ? { queued: queued.notice } : {}) };
}
