import { getHeapStatistics } from 'node:v8';
import { ExpiryQueue } from './expiry-queue.js';
import { StoreUnavailableError, type ChangeNotice, type IndexEntry, type IndexKind, type RecordKeys, type RecordKind, type RecordsRead, type SequenceOutcome, type SequenceStep, type SetKind, type Store } from './store.js';

interface Entry {
  /** The value as JSON, as Redis keeps it: a copy no caller can mutate, whose size is known. */
  json: string;
  /** What the record is counted as against `maxBytes`. */
  size: number;
  expiresAt: number;
  /**
   * An index's members and their expiries (seconds), kept as a live map rather than JSON (`json` is
   * then empty): adding to an index of a hundred thousand costs what adding to one of ten does.
   */
  members?: Map<string, number>;
  /** The members by expiry, from the first time the index went past its bound (bounding needs the soonest). */
  queue?: ExpiryQueue;
}

export interface MemoryStoreOptions {
  maxEntries?: number;
  maxBytes?: number;
  sweepIntervalMs?: number;
}

/** Half a million records, and a quarter of the heap the process may grow to. */
export function defaultMemoryStoreLimits(): { maxEntries: number; maxBytes: number } {
  return { maxEntries: 500_000, maxBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.25) };
}

/** What a record costs beyond its JSON: map slot, key string, entry object. */
const ENTRY_OVERHEAD = 200;
/**
 * Records that open a flow (pushed requests, interactions) may fill only this share of the store, so
 * that flows already under way can still write their sessions, codes, grants and tokens when it is full.
 */
const OPENING_KINDS: ReadonlySet<RecordKind> = new Set(['par', 'interaction']);
const OPENING_SHARE = 0.9;
/** A full store looks for expired records at most this often. */
const FULL_SWEEP_INTERVAL_MS = 1000;

/**
 * The store is at its configured size: new records are refused (503 + Retry-After, as for an
 * outage) while reads, consumptions and deletions go on, so the store drains as flows complete.
 */
export class StoreFullError extends StoreUnavailableError {
  constructor(message = 'state store full') {
    super(message);
  }
}

/**
 * The embedded single-process store, bounded in records and bytes so that whatever clients and
 * browsers make it keep cannot exhaust the heap. Values are kept as JSON, like the Redis store keeps
 * them (so both behave alike), callers can never mutate stored state, and every record's size is
 * known. JSON is also quicker to write and read back than a structured clone.
 */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #lastFullSweep = 0;
  readonly #sets = new Map<SetKind, Set<string>>();
  readonly #subscribers = new Map<string, Array<(notice: ChangeNotice) => void>>();

  constructor(options: MemoryStoreOptions = {}) {
    const defaults = defaultMemoryStoreLimits();
    this.#maxEntries = options.maxEntries ?? defaults.maxEntries;
    this.#maxBytes = options.maxBytes ?? defaults.maxBytes;
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 10_000);
    this.#sweeper.unref();
  }

  /** Live and not yet swept records, and what they count as against `maxBytes`. */
  stats(): { entries: number; bytes: number; maxEntries: number; maxBytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, maxEntries: this.#maxEntries, maxBytes: this.#maxBytes };
  }

  async set(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#write(kind, id, value, ttlSeconds);
  }

  #write(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): void {
    const k = key(kind, id);
    const json = JSON.stringify(value);
    // Two bytes a character: V8 keeps non-Latin-1 strings in UTF-16.
    const size = 2 * (k.length + json.length) + ENTRY_OVERHEAD;
    const previous = this.#entries.get(k);
    this.#admit(kind, previous === undefined, size - (previous?.size ?? 0));
    // Read again: #admit's sweep may have removed an expired previous record (and its bytes).
    const replaced = this.#entries.get(k);
    this.#entries.set(k, { json, size, expiresAt: Date.now() + ttlSeconds * 1000 });
    this.#bytes += size - (replaced?.size ?? 0);
  }

  async setIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    if (this.#live(key(kind, id))) return false;
    await this.set(kind, id, value, ttlSeconds);
    return true;
  }

  #writeIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): boolean {
    if (this.#live(key(kind, id))) return false;
    this.#write(kind, id, value, ttlSeconds);
    return true;
  }

  async get<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    const entry = this.#live(key(kind, id));
    return entry ? (JSON.parse(entry.json) as T) : undefined;
  }

  async getMany<T extends readonly unknown[]>(keys: RecordKeys<T>): Promise<RecordsRead<T>> {
    return keys.map(([kind, id]) => {
      const entry = this.#live(key(kind, id));
      return entry ? JSON.parse(entry.json) : undefined;
    }) as RecordsRead<T>;
  }

  async consume<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    const k = key(kind, id);
    const entry = this.#live(k);
    if (!entry) return undefined;
    this.#remove(k, entry);
    return JSON.parse(entry.json) as T;
  }

  #take(k: string): boolean {
    const entry = this.#live(k);
    if (entry) this.#remove(k, entry);
    return entry !== undefined;
  }

  async anyExists(keys: ReadonlyArray<readonly [RecordKind, string]>): Promise<boolean> {
    return keys.some(([kind, id]) => this.#live(key(kind, id)) !== undefined);
  }

  async delete(kind: RecordKind, id: string): Promise<void> {
    const k = key(kind, id);
    const entry = this.#entries.get(k);
    if (entry) this.#remove(k, entry);
  }

  /** Synchronous from the first step to the last: nothing else runs in between. */
  async sequence(steps: readonly SequenceStep[]): Promise<SequenceOutcome> {
    const outcome: SequenceOutcome = [];
    for (const step of steps) {
      if ('addMember' in step) outcome.push(this.#addMember(step.addMember, step.member, step.max));
      else if ('absent' in step) outcome.push(this.#live(key(step.absent, step.id)) === undefined);
      else if ('present' in step) outcome.push(this.#live(key(step.present, step.id)) !== undefined);
      else if ('unchanged' in step) outcome.push(this.#live(key(step.unchanged, step.id))?.json === JSON.stringify(step.value));
      else if ('take' in step) outcome.push(this.#take(key(step.take, step.id)));
      else if (step.ifAbsent) outcome.push(this.#writeIfAbsent(step.set, step.id, step.value, step.ttlSeconds));
      else outcome.push((this.#write(step.set, step.id, step.value, step.ttlSeconds), true));
      if (outcome.at(-1) === false) break;
    }
    return outcome;
  }

  async addMember(set: SetKind, member: string, max: number): Promise<'added' | 'present' | 'full'> {
    return this.#addMember(set, member, max);
  }

  #addMember(set: SetKind, member: string, max: number): 'added' | 'present' | 'full' {
    let members = this.#sets.get(set);
    if (!members) this.#sets.set(set, (members = new Set()));
    if (members.has(member)) return 'present';
    if (members.size >= max) return 'full';
    members.add(member);
    return 'added';
  }

  async removeMember(set: SetKind, member: string): Promise<void> {
    this.#sets.get(set)?.delete(member);
  }

  async members(set: SetKind): Promise<string[]> {
    return [...(this.#sets.get(set) ?? [])];
  }

  /**
   * An index is one record (a live map of `member → expiry`), counted against the bounds like any
   * other: each member as its id and expiry would weigh in JSON. Members whose time is up are dropped
   * when the index reaches its bound, and by the sweep; reads never see them.
   */
  async index(entries: readonly IndexEntry[]): Promise<void> {
    const now = Date.now() / 1000;
    for (const { kind, key: id, member, expiresAt, max } of entries) {
      const k = indexKey(kind, id);
      let entry = this.#live(k);
      const fresh = !entry?.members!.has(member);
      this.#admit('grant', entry === undefined, (entry ? 0 : 2 * k.length + ENTRY_OVERHEAD) + (fresh ? memberSize(member) : 0));
      // #admit's sweep may have removed the index (all its members gone): then it starts anew.
      if (entry !== undefined && this.#entries.get(k) !== entry) entry = undefined;
      if (!entry) {
        entry = { json: '', size: 0, expiresAt: 0, members: new Map() };
        this.#entries.set(k, entry);
        this.#resize(entry, 2 * k.length + ENTRY_OVERHEAD);
      }
      const members = entry.members!;
      const previous = members.get(member);
      members.set(member, expiresAt);
      if (previous === undefined) this.#resize(entry, memberSize(member));
      if (previous !== expiresAt) entry.queue?.push(member, expiresAt, members);
      if (members.size > max) {
        entry.queue ??= new ExpiryQueue(members);
        this.#dropExpired(entry, now);
        while (members.size > max) this.#dropMember(entry, entry.queue.soonest(members)![0]);
      }
      if (members.size === 0) this.#remove(k, entry);
      // The key lasts as long as its last member, as in Redis: raised by a later one, never lowered
      // (the sweep removes an index whose members have all gone).
      else if (expiresAt * 1000 > entry.expiresAt) entry.expiresAt = expiresAt * 1000;
    }
  }

  async indexMembers(kind: IndexKind, id: string): Promise<string[]> {
    const members = this.#live(indexKey(kind, id))?.members;
    if (!members) return [];
    const now = Date.now() / 1000;
    return [...members]
      .filter(([, expiresAt]) => expiresAt > now)
      .sort(bySoonest)
      .map(([member]) => member);
  }

  async unindex(kind: IndexKind, id: string, member: string): Promise<void> {
    const k = indexKey(kind, id);
    const entry = this.#live(k);
    if (!entry?.members!.has(member)) return;
    this.#dropMember(entry, member);
    if (entry.members!.size === 0) this.#remove(k, entry);
  }

  #dropMember(entry: Entry, member: string): void {
    const members = entry.members!;
    members.delete(member);
    this.#resize(entry, -memberSize(member));
  }

  #dropExpired(entry: Entry, now: number): void {
    const members = entry.members!;
    if (entry.queue === undefined) {
      for (const [member, expiresAt] of members) if (expiresAt <= now) this.#dropMember(entry, member);
      return;
    }
    for (let first = entry.queue.soonest(members); first !== undefined && first[1] <= now; first = entry.queue.soonest(members))
      this.#dropMember(entry, first[0]);
  }

  #resize(entry: Entry, delta: number): void {
    entry.size += delta;
    this.#bytes += delta;
  }

  /** One process: the notice reaches this process's subscribers only, at once. */
  async publish(channel: string, message: string): Promise<void> {
    for (const listener of this.#subscribers.get(channel) ?? []) listener({ type: 'message', message });
  }

  subscribe(channel: string, listener: (notice: ChangeNotice) => void): void {
    this.#subscribers.set(channel, [...(this.#subscribers.get(channel) ?? []), listener]);
    listener({ type: 'live' });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#entries.clear();
    this.#sets.clear();
    this.#bytes = 0;
  }

  /** Throws StoreFullError unless a write that adds `growth` bytes (and a record, when `added`) fits. */
  #admit(kind: RecordKind, added: boolean, growth: number): void {
    if (!added && growth <= 0) return;
    const share = added && OPENING_KINDS.has(kind) ? OPENING_SHARE : 1;
    const fits = () => this.#entries.size + (added ? 1 : 0) <= this.#maxEntries * share && this.#bytes + growth <= this.#maxBytes * share;
    if (fits()) return;
    const now = Date.now();
    if (now - this.#lastFullSweep >= FULL_SWEEP_INTERVAL_MS) {
      this.#lastFullSweep = now;
      this.#sweep();
      if (fits()) return;
    }
    throw new StoreFullError();
  }

  #remove(k: string, entry: Entry): void {
    this.#entries.delete(k);
    this.#bytes -= entry.size;
  }

  #live(k: string): Entry | undefined {
    const entry = this.#entries.get(k);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#remove(k, entry);
      return undefined;
    }
    return entry;
  }

  #sweep(): void {
    const now = Date.now();
    // forEach rather than for…of: no [key, entry] pair allocated for each of what may be a million records.
    this.#entries.forEach((entry, k) => {
      if (entry.expiresAt <= now) this.#remove(k, entry);
      else if (entry.members) {
        this.#dropExpired(entry, now / 1000);
        if (entry.members.size === 0) this.#remove(k, entry);
      }
    });
  }
}

const key = (kind: RecordKind, id: string) => `${kind}:${id}`;
const indexKey = (kind: IndexKind, id: string) => `index/${kind}:${id}`;
/** Soonest to expire first, as Redis orders a sorted set by score, then by member. */
const bySoonest = ([a, x]: [string, number], [b, y]: [string, number]) => x - y || (a < b ? -1 : a > b ? 1 : 0);
/** What an index member counts as against `maxBytes`: its id and expiry as a JSON object's member. */
const memberSize = (member: string) => 2 * (member.length + 20);

