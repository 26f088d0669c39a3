import type { RecordKind, Store } from './store.js';

interface Entry {
  value: unknown;
  expiresAt: number;
}

/** The embedded single-process store. Values are deep-copied so callers can never mutate stored state. */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(sweepIntervalMs = 10_000) {
    this.#sweeper = setInterval(() => this.#sweep(), sweepIntervalMs);
    this.#sweeper.unref();
  }

  async set(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#entries.set(key(kind, id), { value: structuredClone(value), expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async setIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    if (this.#live(key(kind, id))) return false;
    await this.set(kind, id, value, ttlSeconds);
    return true;
  }

  async get<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    const entry = this.#live(key(kind, id));
    return entry ? (structuredClone(entry.value) as T) : undefined;
  }

  async consume<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    const k = key(kind, id);
    const entry = this.#live(k);
    if (!entry) return undefined;
    this.#entries.delete(k);
    return entry.value as T;
  }

  async anyExists(keys: ReadonlyArray<readonly [RecordKind, string]>): Promise<boolean> {
    return keys.some(([kind, id]) => this.#live(key(kind, id)) !== undefined);
  }

  async delete(kind: RecordKind, id: string): Promise<void> {
    this.#entries.delete(key(kind, id));
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#entries.clear();
  }

  #live(k: string): Entry | undefined {
    const entry = this.#entries.get(k);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(k);
      return undefined;
    }
    return entry;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [k, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(k);
  }
}

const key = (kind: RecordKind, id: string) => `${kind}:${id}`;
