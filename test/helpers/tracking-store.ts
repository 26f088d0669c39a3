import { MemoryStore } from '../../src/store/memory.js';
import type { RecordKind, Store } from '../../src/store/store.js';

/** The memory store, remembering which records were ever written so a test can count the live ones. */
export class TrackingStore implements Store {
  readonly #inner = new MemoryStore();
  readonly #written = new Map<RecordKind, Set<string>>();

  /** The ids of the live records of `kind`. */
  async live(kind: RecordKind): Promise<string[]> {
    const ids = [...(this.#written.get(kind) ?? [])];
    const values = await Promise.all(ids.map((id) => this.#inner.get(kind, id)));
    return ids.filter((_, i) => values[i] !== undefined);
  }

  set(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#note(kind, id);
    return this.#inner.set(kind, id, value, ttlSeconds);
  }
  setIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    this.#note(kind, id);
    return this.#inner.setIfAbsent(kind, id, value, ttlSeconds);
  }
  get<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    return this.#inner.get<T>(kind, id);
  }
  consume<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    return this.#inner.consume<T>(kind, id);
  }
  anyExists(keys: ReadonlyArray<readonly [RecordKind, string]>): Promise<boolean> {
    return this.#inner.anyExists(keys);
  }
  delete(kind: RecordKind, id: string): Promise<void> {
    return this.#inner.delete(kind, id);
  }
  ping(): Promise<void> {
    return this.#inner.ping();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }

  #note(kind: RecordKind, id: string): void {
    let ids = this.#written.get(kind);
    if (!ids) this.#written.set(kind, (ids = new Set()));
    ids.add(id);
  }
}
