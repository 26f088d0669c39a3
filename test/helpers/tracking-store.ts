import { MemoryStore } from '../../src/store/memory.js';
import type { RecordKind } from '../../src/store/store.js';

/** The memory store, remembering which records were ever written so a test can count the live ones. */
export class TrackingStore extends MemoryStore {
  readonly #written = new Map<RecordKind, Set<string>>();

  /** The ids of the live records of `kind`. */
  async live(kind: RecordKind): Promise<string[]> {
    const ids = [...(this.#written.get(kind) ?? [])];
    const values = await Promise.all(ids.map((id) => this.get(kind, id)));
    return ids.filter((_, i) => values[i] !== undefined);
  }

  override set(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<void> {
    let ids = this.#written.get(kind);
    if (!ids) this.#written.set(kind, (ids = new Set()));
    ids.add(id);
    return super.set(kind, id, value, ttlSeconds);
  }
}
