import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { OutboundFetch } from '../../../http/outbound-fetch.js';
import type { Store } from '../../../store/store.js';
import type { RegisterSettings } from './settings.js';
import { emptyStatuses, parseDataRecipients, parseSoftwareProducts, type RegisterStatuses } from './statuses.js';

/** Where the statuses live in the store (every replica reads them), and the lease of the replica that fetches them. */
const STATUSES_ID = 'cdr:register-statuses';
const LEASE_ID = 'cdr:register-poll-lease';
/** Replicas hear that the statuses changed on this channel. */
export const STATUS_CHANNEL = 'cdr-register-statuses';
/** The last known statuses are kept this long without an answer from the Register (then they are gone: every product counts as active). */
const STATUSES_TTL_SECONDS = 30 * 86_400;

/** After a poll the store failed, the next try comes this soon. */
const RETRY_MS = 5_000;

type ListName = 'softwareProducts' | 'dataRecipients';

export interface PollerDeps {
  settings: RegisterSettings;
  fetch: OutboundFetch;
  /** The shared store (there once the gateway's context is). */
  store: () => Store;
  /** Called with the statuses whenever this replica learns new ones; `polled` when this replica fetched them. */
  onStatuses: (statuses: RegisterStatuses, polled: boolean) => Promise<void>;
  onPoll?: (list: ListName, outcome: 'changed' | 'unchanged' | 'failed') => void;
}

/**
 * Fetches the Register's status lists every pollSeconds (jittered), with If-None-Match, through the
 * guarded fetcher. Replicas take turns through a lease in the store, so the Register is asked about
 * once per interval however many replicas run; the statuses go to the store and every replica hears
 * of a change. When the Register fails, the last known statuses stay and the cause is logged.
 */
export class RegisterStatusPoller {
  readonly #replica = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: AbortController | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #log: FastifyBaseLogger | undefined;
  #current: RegisterStatuses = emptyStatuses();
  #appliedOnce = false;

  constructor(private readonly deps: PollerDeps) {}

  get statuses(): RegisterStatuses {
    return this.#current;
  }

  /** Reads the shared statuses (no fetch): at start, and when another replica announces a change. */
  async load(): Promise<void> {
    const stored = await this.deps.store().get<RegisterStatuses>('ecosystem', STATUSES_ID);
    if (stored) {
      this.#current = stored;
      await this.deps.onStatuses(stored, false);
    }
  }

  /** Starts polling (once the gateway can log). */
  begin(log: FastifyBaseLogger): void {
    this.#log = log;
    this.deps.store().subscribe(STATUS_CHANNEL, (notice) => {
      if (notice.type !== 'interrupted' && !this.#stopped) this.load().catch((err) => this.#log?.warn({ event: 'cdr_register_status_unreadable', cause: (err as Error).message }, 'cannot read the Register statuses from the store'));
    });
    this.#schedule(0);
  }

  /** Fetches now, whoever holds the lease (the Register's metadata update asks for this). */
  refreshNow(): Promise<void> {
    return this.#poll(true);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#inFlight?.abort();
    // A poll stuck on the store (it may be what is failing) must not hold up the shutdown.
    await Promise.race([this.#running?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#poll(false).then(
        () => this.#schedule(this.#nextDelayMs()),
        (err) => {
          // The store failed (the Register's own failures are handled per list): try again soon.
          this.#log?.error({ event: 'cdr_register_poll_failed', cause: (err as Error).message }, 'the Register status poll failed');
          this.#schedule(RETRY_MS);
        },
      );
    }, delayMs);
    // Background work never keeps the process alive.
    this.#timer.unref();
  }

  #nextDelayMs(): number {
    const { min, max } = this.deps.settings.pollSeconds;
    return (min + Math.random() * (max - min)) * 1000;
  }

  async #poll(force: boolean): Promise<void> {
    const run = this.#pollOnce(force);
    this.#running = run;
    return run;
  }

  async #pollOnce(force: boolean): Promise<void> {
    const { settings } = this.deps;
    const store = this.deps.store();
    const leaseSeconds = Math.max(1, settings.pollSeconds.min - 5);
    const mine = await store.setIfAbsent('ecosystem', LEASE_ID, this.#replica, leaseSeconds);
    if (!mine && !force) return this.load();
    if (force && !mine) await store.set('ecosystem', LEASE_ID, this.#replica, leaseSeconds);
    const before = (await store.get<RegisterStatuses>('ecosystem', STATUSES_ID)) ?? this.#current;
    const next: RegisterStatuses = structuredClone(before);
    const changed = (
      await Promise.all([
        this.#fetchList('softwareProducts', settings.softwareProductStatusUri, parseSoftwareProducts, next),
        this.#fetchList('dataRecipients', settings.dataRecipientStatusUri, parseDataRecipients, next),
      ])
    ).some(Boolean);
    if (this.#stopped) return;
    await store.set('ecosystem', STATUSES_ID, next, STATUSES_TTL_SECONDS);
    this.#current = next;
    // Every client's standing is recomputed (a store read each) only when a status changed.
    if (changed || !this.#appliedOnce) await this.deps.onStatuses(next, true);
    this.#appliedOnce = true;
    if (changed) await store.publish(STATUS_CHANNEL, 'changed');
  }

  /** One list into `into`; true when it changed. A failure keeps what was known and is logged with its cause. */
  async #fetchList(list: ListName, url: string, parse: (body: unknown) => Record<string, string> | undefined, into: RegisterStatuses): Promise<boolean> {
    const controller = new AbortController();
    this.#inFlight = controller;
    const headers: Record<string, string> = { accept: 'application/json', 'x-v': String(this.deps.settings.statusVersion) };
    const etag = into.etags[list];
    if (etag) headers['if-none-match'] = etag;
    try {
      const res = await this.deps.fetch(url, { headers, signal: controller.signal });
      if (res.status === 304) {
        into.fetchedAt[list] = Date.now();
        this.deps.onPoll?.(list, 'unchanged');
        return false;
      }
      if (res.status !== 200) throw new Error(`answered ${res.status}`);
      let parsed: Record<string, string> | undefined;
      try {
        parsed = parse(await res.json());
      } catch {
        parsed = undefined;
      }
      if (!parsed) throw new Error('the answer is not a status list');
      const changed = JSON.stringify(parsed) !== JSON.stringify(into[list]);
      into[list] = parsed;
      const newEtag = res.headers.get('etag');
      if (newEtag) into.etags[list] = newEtag;
      else delete into.etags[list];
      into.fetchedAt[list] = Date.now();
      this.deps.onPoll?.(list, changed ? 'changed' : 'unchanged');
      return changed;
    } catch (err) {
      if (this.#stopped) return false;
      this.deps.onPoll?.(list, 'failed');
      this.#log?.warn(
        { event: 'cdr_register_status_unavailable', list, url, cause: (err as Error).message, lastFetchedAt: into.fetchedAt[list] ?? null },
        'the CDR Register status list could not be fetched; the last known statuses stay in force',
      );
      return false;
    }
  }
}
