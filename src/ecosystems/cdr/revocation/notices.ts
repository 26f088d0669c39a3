import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { addressBlocks } from '../../../config/address-blocks.js';
import type { GatewayContext } from '../../../context.js';
import { outboundFetch, type OutboundFetch } from '../../../http/outbound-fetch.js';
import type { Arrangement } from '../arrangements/arrangements.js';
import type { CdrMetrics } from '../metrics.js';
import type { AuthorizationSettings } from '../settings.js';

/** A notice to a recipient that an arrangement has ended, waiting in the store until delivered. */
export interface RevocationNotice {
  id: string;
  arrangementId: string;
  clientId: string;
  /** `<recipient_base_uri>/arrangements/revoke` */
  url: string;
  createdAt: number;
  /** Seconds since the epoch: given up after this. */
  expiresAt: number;
  attempts: number;
  /** Milliseconds since the epoch. */
  nextAttemptAt: number;
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'abandoned';

const nowSeconds = () => Math.floor(Date.now() / 1000);
type Log = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/**
 * Outbound CDR Arrangement Revocation: a durable queue in the shared store. Every notice is a record
 * with its own expiry, listed in a bounded set; a replica takes a due notice under a lease that
 * outlives one attempt, so two replicas never send it at once, and a replica dying mid-attempt only
 * delays it until its lease runs out. Failures back off exponentially; a 4xx other than 408/429 is
 * final (the recipient has said no), and so is the notice's expiry.
 */
export class RevocationNotices {
  readonly #fetch: OutboundFetch;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopping = new AbortController();
  #log: Log | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly settings: AuthorizationSettings,
    private readonly metrics: CdrMetrics | undefined,
  ) {
    const recipients = settings.recipients;
    this.#fetch = outboundFetch({
      maxBytes: 65_536,
      timeoutMs: recipients.timeoutMs,
      allowedPrivate: addressBlocks(recipients.allowPrivateAddresses, 'ecosystem.recipients.allowPrivateAddresses'),
    });
  }

  /**
   * Queues a notice for the arrangement's recipient (its client's `recipient_base_uri`). 'no_recipient'
   * when the client has none; 'queue_full' when the queue is at its bound (logged, counted).
   */
  async enqueue(arrangement: Arrangement, log?: Log): Promise<{ outcome: 'queued'; notice: RevocationNotice } | { outcome: 'no_recipient' | 'queue_full' | 'no_brand_id' }> {
    if (this.settings.brandId === undefined) {
      (log ?? this.#log)?.error({ audit: 'arrangement_revocation_notice_refused', arrangementId: arrangement.id, clientId: arrangement.clientId }, 'ecosystem.brandId is not set: the recipient cannot be told of the revoked arrangement');
      return { outcome: 'no_brand_id' };
    }
    const client = await this.ctx.clients.get(arrangement.clientId);
    const base = client?.metadata.recipient_base_uri;
    if (base === undefined) return { outcome: 'no_recipient' };
    const now = Date.now();
    const notice: RevocationNotice = {
      id: randomUUID(),
      arrangementId: arrangement.id,
      clientId: arrangement.clientId,
      url: `${base.replace(/\/+$/, '')}/arrangements/revoke`,
      createdAt: Math.floor(now / 1000),
      expiresAt: Math.floor(now / 1000) + this.settings.recipients.noticeLifetimeSeconds,
      attempts: 0,
      nextAttemptAt: now,
    };
    // The record first: a listed id without a record is dropped by the next sweep, never the reverse.
    await this.ctx.store.set('notice', notice.id, notice, this.settings.recipients.noticeLifetimeSeconds);
    if ((await this.ctx.store.addMember('pending-notices', notice.id, this.settings.recipients.maxPending)) === 'full') {
      await this.ctx.store.delete('notice', notice.id);
      this.metrics?.notices.inc({ outcome: 'queue_full' });
      (log ?? this.#log)?.error({ audit: 'arrangement_revocation_notice_refused', arrangementId: arrangement.id, clientId: arrangement.clientId, maxPending: this.settings.recipients.maxPending }, 'the revocation notice queue is full (ecosystem.recipients.maxPending): the recipient is not told');
      return { outcome: 'queue_full' };
    }
    this.metrics?.notices.inc({ outcome: 'queued' });
    return { outcome: 'queued', notice };
  }

  /** Starts looking for due notices (every pollIntervalMs); a replica's part of the delivery. */
  start(log: Log): void {
    this.#log = log;
    const tick = () => {
      this.#running = this.deliverDue().catch((err) => this.#log?.warn({ err: (err as Error).message }, 'revocation notices: the queue could not be read')).finally(() => {
        this.#running = undefined;
        if (!this.#stopping.signal.aborted) this.#timer = setTimeout(tick, this.settings.recipients.pollIntervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  /** Stops at once: an attempt in flight is aborted, and its notice is retried by another replica later. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass over the queue: every due notice this replica can lease gets one attempt. */
  async deliverDue(): Promise<void> {
    const ids = await this.ctx.store.members('pending-notices');
    for (const id of ids) {
      if (this.#stopping.signal.aborted) return;
      const notice = await this.ctx.store.get<RevocationNotice>('notice', id);
      if (!notice) {
        // Its record expired (given up by its lifetime) or was delivered by another replica.
        await this.ctx.store.removeMember('pending-notices', id);
        continue;
      }
      if (notice.nextAttemptAt > Date.now()) continue;
      await this.attempt(notice);
    }
  }

  /** One delivery attempt under a lease; the outcome is written back (or the notice removed). */
  async attempt(notice: RevocationNotice, log: Log | undefined = this.#log): Promise<DeliveryOutcome | 'leased'> {
    const leaseSeconds = Math.ceil(this.settings.recipients.timeoutMs / 1000) + 5;
    if (!(await this.ctx.store.setIfAbsent('notice-lease', notice.id, 1, leaseSeconds))) return 'leased';
    try {
      // Read again under the lease: another replica may have finished it just before.
      const current = await this.ctx.store.get<RevocationNotice>('notice', notice.id);
      if (!current) return 'delivered';
      const result = await this.#send(current);
      const fields = { arrangementId: current.arrangementId, clientId: current.clientId, attempt: current.attempts + 1, url: current.url };
      if (result.ok) {
        await this.#forget(current.id);
        this.metrics?.notices.inc({ outcome: 'delivered' });
        log?.info({ audit: 'arrangement_revocation_notified', ...fields, status: result.status }, 'arrangement_revocation_notified');
        return 'delivered';
      }
      const attempts = current.attempts + 1;
      const remaining = current.expiresAt - nowSeconds();
      if (result.final || attempts >= this.settings.recipients.maxAttempts || remaining <= 0) {
        await this.#forget(current.id);
        this.metrics?.notices.inc({ outcome: 'abandoned' });
        log?.error({ audit: 'arrangement_revocation_notice_abandoned', ...fields, cause: result.cause }, 'a recipient could not be told of a revoked arrangement: given up');
        return 'abandoned';
      }
      const delay = Math.min(this.settings.recipients.maxRetryDelaySeconds, this.settings.recipients.retryDelaySeconds * 2 ** (attempts - 1));
      await this.ctx.store.set('notice', current.id, { ...current, attempts, nextAttemptAt: Date.now() + delay * 1000 }, remaining);
      this.metrics?.notices.inc({ outcome: 'retry' });
      log?.warn({ audit: 'arrangement_revocation_notice_failed', ...fields, cause: result.cause, retryInSeconds: delay }, 'a recipient could not be told of a revoked arrangement yet: will retry');
      return 'retry';
    } finally {
      await this.ctx.store.delete('notice-lease', notice.id).catch(() => undefined);
    }
  }

  async #forget(id: string): Promise<void> {
    await this.ctx.store.delete('notice', id);
    await this.ctx.store.removeMember('pending-notices', id);
  }

  async #send(notice: RevocationNotice): Promise<{ ok: true; status: number } | { ok: false; final: boolean; cause: string }> {
    const brandId = this.settings.brandId!;
    const key = this.ctx.keys.signingKey(['PS256', 'ES256']);
    if (!key) return { ok: false, final: true, cause: 'no PS256 or ES256 signing key' };
    const now = nowSeconds();
    const sign = (claims: Record<string, unknown>) =>
      key.signJwt({ ...claims, iss: brandId, sub: brandId, aud: notice.url, iat: now, exp: now + 300, jti: randomUUID() }, { typ: 'JWT' });
    const [bearer, arrangementJwt] = await Promise.all([sign({}), sign({ cdr_arrangement_id: notice.arrangementId })]);
    try {
      const res = await this.#fetch(notice.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ cdr_arrangement_jwt: arrangementJwt }).toString(),
        signal: this.#stopping.signal,
      });
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      const final = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      return { ok: false, final, cause: `answered ${res.status}` };
    } catch (err) {
      return { ok: false, final: false, cause: (err as Error).message };
    }
  }
}
