import { MemoryStore } from '../../src/store/memory.js';
import type { RecordKind, SequenceOutcome, SequenceStep } from '../../src/store/store.js';

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
    this.#note(kind, id);
    return super.set(kind, id, value, ttlSeconds);
  }

  override sequence(steps: readonly SequenceStep[]): Promise<SequenceOutcome> {
    for (const step of steps) if ('set' in step) this.#note(step.set, step.id);
    return super.sequence(steps);
  }

  #note(kind: RecordKind, id: string): void {
    let ids = this.#written.get(kind);
    if (!ids) this.#written.set(kind, (ids = new Set()));
    ids.add(id);
  }
}
