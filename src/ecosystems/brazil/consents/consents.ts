import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Grants } from '../../../grants/grant.js';
import type { SequenceStep, Store } from '../../../store/store.js';
import { AWAITING_SECONDS, statusAt, type AuthorisedMarker, type ExtensionRecord, type ConsentRecord, type ConsentState, type EndedMarker, type RejectedBy, type RejectionReason } from './consent.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** A crashed extension frees its consent this soon. */
const EXTEND_LOCK_SECONDS = 10;
/** The extensions kept per consent (the newest; GET /extensions lists them). */
const MAX_EXTENSIONS = 100;

/** Where a transition failed: the consent was not in the state it needed. */
export class ConsentStateConflict extends Error {}

/**
 * The consents and their state machine in the Store. A consent's record never changes; its
 * transitions are one-time markers (`authorised`, `ended`) written with setIfAbsent, so each
 * happens once on whichever replica gets there first. Approval writes `authorised` and then looks
 * for `ended`; ending writes `ended` and then looks for `authorised` (ending its grant): of an
 * approval and an ending at the same moment, at least one sees the other, and the ending wins.
 * Every record lives until the consent's end plus the retention time.
 */
export class Consents {
  readonly #transitions: Counter<'transition'>;

  constructor(
    private readonly deps: { store: Store; grants: Grants; urnPrefix: string; retentionSeconds: number; maxGrantSeconds: number; registry?: Registry },
    private log: FastifyBaseLogger | undefined,
  ) {
    this.#transitions = new Counter({
      name: 'fapi_gateway_brazil_consent_transitions_total',
      help: 'Open Finance Brasil consent transitions: created, authorised, rejected_<reason>.',
      labelNames: ['transition'] as const,
      registers: deps.registry ? [deps.registry] : [],
    });
  }

  useLogger(log: FastifyBaseLogger): void {
    this.log = log;
  }

  newId(): string {
    return `urn:${this.deps.urnPrefix}:${randomUUID()}`;
  }

  /** Writes a new consent where `guards` hold (all, in one sequence); false when one did not. */
  async create(record: ConsentRecord, guards: readonly SequenceStep[] = []): Promise<boolean> {
    const ttlSeconds = this.#ttl(record.createdAt + AWAITING_SECONDS, record.createdAt);
    const ran = await this.deps.store.sequence([...guards, { set: 'eco-consent', id: record.id, value: record, ttlSeconds }]);
    if (ran.length <= guards.length) return false;
    this.#record('created', record, {});
    return true;
  }

  /** The consent and its markers (one round trip); undefined when unknown or forgotten. */
  async read(id: string): Promise<ConsentState | undefined> {
    const { store } = this.deps;
    const [record, authorised, ended, extensions] = await store.getMany<[ConsentRecord, AuthorisedMarker, EndedMarker, ExtensionRecord[]]>([
      ['eco-consent', id],
      ['eco-consent-state', `${id}\u0000authorised`],
      ['eco-consent-state', `${id}\u0000ended`],
      ['eco-consent-state', `${id}\u0000extensions`],
    ]);
    if (!record) return undefined;
    const state: ConsentState = { record, ...(authorised ? { authorised } : {}), ...(ended ? { ended } : {}), ...(extensions?.length ? { extensions } : {}) };
    // An ending that time has brought is written (audited, its grant ended) when first seen.
    const due = statusAt(state, nowSeconds()).due;
    if (due) return (await this.#end(state, due)) ?? state;
    return state;
  }

  /**
   * The consent for a step that writes only while it is still awaiting authorisation: from this
   * replica's copy of its record, when the store keeps one, taken to be awaiting (no markers), with
   * no round trip. Safe because the record never changes and the step's write is guarded on the
   * markers: `authorise` writes only where no `authorised` and no `ended` marker exists, and PAR
   * writes its request behind `stillAwaiting`. A consent authorised or ended elsewhere meanwhile so
   * refuses the step there. Without a copy, or when time has ended the consent, it is read.
   */
  async readOrCopy(id: string): Promise<ConsentState | undefined> {
    const record = this.deps.store.copy?.<ConsentRecord>('eco-consent', id);
    if (!record) return this.read(id);
    const state: ConsentState = { record };
    return statusAt(state, nowSeconds()).due ? this.read(id) : state;
  }

  /** Steps that hold while the consent is still awaiting authorisation: no `authorised` and no `ended` marker. */
  stillAwaiting(id: string): SequenceStep[] {
    return [
      { absent: 'eco-consent-state', id: `${id}\u0000authorised` },
      { absent: 'eco-consent-state', id: `${id}\u0000ended` },
    ];
  }

  /** AWAITING_AUTHORISATION → AUTHORISED, for the grant the approval creates. */
  async authorise(state: ConsentState, marker: Omit<AuthorisedMarker, 'at'>): Promise<ConsentState> {
    const { store } = this.deps;
    const now = nowSeconds();
    if (statusAt(state, now).status !== 'AWAITING_AUTHORISATION') throw new ConsentStateConflict('the consent is not awaiting authorisation');
    const authorised: AuthorisedMarker = { at: now, ...marker };
    const { record } = state;
    const ttl = this.#ttl(record.expiresAt ?? record.createdAt + this.deps.maxGrantSeconds, now);
    // One step: the marker, then the look for an ending, then (the record now lives as long as the
    // authorisation can) the record's new lifetime; each only when the one before went through.
    const outcome = await store.sequence([
      { set: 'eco-consent-state', id: `${record.id}\u0000authorised`, value: authorised, ttlSeconds: ttl, ifAbsent: true },
      { absent: 'eco-consent-state', id: `${record.id}\u0000ended` },
      { set: 'eco-consent', id: record.id, value: record, ttlSeconds: ttl },
    ]);
    if (outcome[0] === false) throw new ConsentStateConflict('the consent was already authorised');
    if (outcome[1] === false) throw new ConsentStateConflict('the consent was rejected meanwhile');
    this.#record('authorised', record, { grantId: marker.grantId });
    return { ...state, authorised };
  }

  /**
   * Moves an AUTHORISED consent's end (an extension the customer asked for), and its grant's with it.
   * One extension at a time per consent (a short lock across replicas); an ending racing with it
   * wins, as its grant's end marker refuses the grant's new lease.
   */
  async extend(id: string, make: (state: ConsentState) => ExtensionRecord): Promise<ConsentState> {
    const { store, grants } = this.deps;
    const lock = `${id}\u0000extending`;
    if (!(await store.setIfAbsent('eco-consent-state', lock, 1, EXTEND_LOCK_SECONDS))) throw new ConsentStateConflict('the consent is being extended; retry');
    try {
      const state = await this.read(id);
      if (!state?.authorised || statusAt(state, nowSeconds()).status !== 'AUTHORISED') throw new ConsentStateConflict('only an AUTHORISED consent can be extended');
      const extension = make(state);
      const extensions = [...(state.extensions ?? []), extension].slice(-MAX_EXTENSIONS);
      const { record, authorised } = state;
      const ttl = this.#ttl(extension.expiresAt ?? record.createdAt + this.deps.maxGrantSeconds, extension.at);
      await Promise.all([
        store.set('eco-consent-state', `${id}\u0000extensions`, extensions, ttl),
        store.set('eco-consent-state', `${id}\u0000authorised`, authorised, ttl),
        store.set('eco-consent', id, record, ttl),
      ]);
      const grant = await grants.get(authorised.grantId);
      if (grant) {
        if (extension.expiresAt === undefined) delete grant.expiresAt;
        else grant.expiresAt = extension.expiresAt;
        await grants.extend(grant);
      }
      this.#record('extended', record, { grantId: authorised.grantId, ...(extension.expiresAt !== undefined ? { expiresAt: extension.expiresAt } : { expiresAt: 'indefinite' }) });
      return { ...state, extensions };
    } finally {
      await store.delete('eco-consent-state', lock).catch(() => undefined);
    }
  }

  /**
   * Ends the consent (→ REJECTED) unless it has ended already: its grant ends with it, so every
   * token of it is refused at once on every replica. The new state, or undefined when another
   * ending came first.
   */
  async end(state: ConsentState, rejectedBy: RejectedBy, reason: RejectionReason): Promise<ConsentState | undefined> {
    return this.#end(state, { at: nowSeconds(), rejectedBy, reason });
  }

  async #end(state: ConsentState, ended: EndedMarker): Promise<ConsentState | undefined> {
    const { store, grants } = this.deps;
    const { record } = state;
    const ttl = this.deps.retentionSeconds;
    if (!(await store.setIfAbsent('eco-consent-state', `${record.id}\u0000ended`, ended, ttl + 60))) return undefined;
    const authorised = state.authorised ?? (await store.get<AuthorisedMarker>('eco-consent-state', `${record.id}\u0000authorised`));
    await Promise.all([
      authorised ? grants.end(authorised.grantId) : undefined,
      store.set('eco-consent', record.id, record, ttl),
      state.extensions ? store.set('eco-consent-state', `${record.id}\u0000extensions`, state.extensions, ttl) : undefined,
    ]);
    this.#record(`rejected_${ended.reason.toLowerCase()}`, record, { rejectedBy: ended.rejectedBy, reason: ended.reason, ...(authorised ? { grantId: authorised.grantId } : {}) });
    return { ...state, ...(authorised ? { authorised } : {}), ended };
  }

  /** Store lifetime of a consent's records: until `end`, then the retention time. */
  #ttl(end: number, now: number): number {
    return Math.max(1, end - now) + this.deps.retentionSeconds;
  }

  #record(transition: string, record: ConsentRecord, detail: Record<string, unknown>): void {
    this.#transitions.inc({ transition });
    this.log?.info({ audit: `consent_${transition}`, consentId: record.id, clientId: record.clientId, ...detail }, `consent_${transition}`);
  }
}
