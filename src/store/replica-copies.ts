import type { RecordKind } from './store.js';

/** The kinds a later step of the same flow reads back: worth a copy (an ecosystem consent's record never changes, so a step that guards on its markers can start from its copy). */
const COPIED: ReadonlySet<RecordKind> = new Set<RecordKind>(['par', 'interaction', 'session', 'code', 'eco-consent']);
/** How long a copy of a record that was read (whose remaining life is not known here) is kept. */
const READ_COPY_MS = 10 * 60_000;

/**
 * The records of those kinds this replica wrote or read lately, as JSON (so no caller can change a
 * copy), for `Store.copy`. Bounded in number: past `max` the oldest go, as do copies past their
 * record's life. A copy is only a hint: whoever acts on one guards on it in Redis.
 */
export class ReplicaCopies {
  readonly #copies = new Map<string, { json: string; until: number }>();

  constructor(readonly max = 2_000) {}

  wants(kind: RecordKind): boolean {
    return COPIED.has(kind);
  }

  /** A record written with this lifetime, or (no ttl) read. */
  keep(kind: RecordKind, key: string, json: string, ttlMs?: number): void {
    if (!this.wants(kind)) return;
    this.#copies.delete(key); // re-inserted last: the oldest go first
    this.#copies.set(key, { json, until: Date.now() + (ttlMs ?? READ_COPY_MS) });
    if (this.#copies.size > this.max) this.#copies.delete(this.#copies.keys().next().value!);
  }

  forget(key: string): void {
    this.#copies.delete(key);
  }

  get<T>(key: string): T | undefined {
    const copy = this.#copies.get(key);
    if (!copy) return undefined;
    if (copy.until <= Date.now()) {
      this.#copies.delete(key);
      return undefined;
    }
    return JSON.parse(copy.json) as T;
  }

  get size(): number {
    return this.#copies.size;
  }
}
