import type { Metrics } from './metrics.js';
import type { IndexEntry, IndexKind, RecordKind, SequenceStep, SetKind, Store } from '../store/store.js';

/** Wraps a store so every operation is timed and every failure counted, without the backends knowing. */
export function instrumentStore(store: Store, backend: string, metrics: Metrics): Store {
  const timed = <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) => {
    // One label object per operation, made once: this wraps every store call on the hot path.
    const labels = { operation, backend };
    return async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await fn(...args);
      } catch (err) {
        metrics.storeErrors.inc(labels);
        throw err;
      } finally {
        metrics.storeDuration.observe(labels, (performance.now() - started) / 1000);
      }
    };
  };
  return {
    set: timed('set', (kind: RecordKind, id: string, value: unknown, ttl: number) => store.set(kind, id, value, ttl)),
    setIfAbsent: timed('set_if_absent', (kind: RecordKind, id: string, value: unknown, ttl: number) => store.setIfAbsent(kind, id, value, ttl)),
    get: timed('get', (kind: RecordKind, id: string) => store.get(kind, id)) as Store['get'],
    getMany: timed('get_many', (keys: ReadonlyArray<readonly [RecordKind, string]>) => store.getMany(keys)) as Store['getMany'],
    consume: timed('consume', (kind: RecordKind, id: string) => store.consume(kind, id)) as Store['consume'],
    anyExists: timed('any_exists', (keys: ReadonlyArray<readonly [RecordKind, string]>) => store.anyExists(keys)),
    delete: timed('delete', (kind: RecordKind, id: string) => store.delete(kind, id)),
    sequence: timed('sequence', (steps: readonly SequenceStep[]) => store.sequence(steps)),
    addMember: timed('add_member', (set: SetKind, member: string, max: number) => store.addMember(set, member, max)),
    removeMember: timed('remove_member', (set: SetKind, member: string) => store.removeMember(set, member)),
    members: timed('members', (set: SetKind) => store.members(set)),
    index: timed('index', (entries: readonly IndexEntry[]) => store.index(entries)),
    indexMembers: timed('index_members', (kind: IndexKind, key: string) => store.indexMembers(kind, key)),
    unindex: timed('unindex', (kind: IndexKind, key: string, member: string) => store.unindex(kind, key, member)),
    publish: timed('publish', (channel: string, message: string) => store.publish(channel, message)),
    subscribe: (channel, listener) => store.subscribe(channel, listener),
    ping: timed('ping', () => store.ping()),
    close: () => store.close(),
    ...(store.onProblem ? { onProblem: store.onProblem.bind(store) } : {}),
    ...(store.copy ? { copy: store.copy.bind(store) } : {}),
  };
}
