// The memory store keeps an index (Store.index) as a sorted structure instead of one JSON record
// rewritten at every change. It must answer, bound and weigh indexes exactly as the JSON record did:
// here both run the same random operations (members expired or not, re-added, removed, bounded)
// and are compared after each.
import t, { type Test } from 'tap';
import { MemoryStore, StoreFullError } from '../src/store/memory.js';
import type { IndexKind } from '../src/store/store.js';

/** The memory store's indexes as they were: one JSON object per index, rewritten whole. */
class JsonIndexes {
  readonly entries = new Map<string, { json: string; size: number; expiresAt: number }>();
  bytes = 0;

  index(kind: IndexKind, id: string, member: string, expiresAt: number, max: number): void {
    const now = Date.now() / 1000;
    const k = `index/${kind}:${id}`;
    const members = { ...this.#indexOf(k, now), [member]: expiresAt };
    const kept = Object.entries(members).sort(bySoonest).slice(Math.max(0, Object.keys(members).length - max));
    if (kept.length === 0) return;
    const json = JSON.stringify(Object.fromEntries(kept));
    const size = 2 * (k.length + json.length) + 200;
    this.bytes += size - (this.#live(k)?.size ?? 0);
    this.entries.set(k, { json, size, expiresAt: kept[kept.length - 1][1] * 1000 });
  }

  members(kind: IndexKind, id: string): string[] {
    return Object.entries(this.#indexOf(`index/${kind}:${id}`, Date.now() / 1000)).sort(bySoonest).map(([m]) => m);
  }

  unindex(kind: IndexKind, id: string, member: string): void {
    const k = `index/${kind}:${id}`;
    const entry = this.#live(k);
    if (!entry) return;
    const members = JSON.parse(entry.json) as Record<string, number>;
    if (!(member in members)) return;
    delete members[member];
    const json = JSON.stringify(members);
    const size = 2 * (k.length + json.length) + 200;
    this.bytes += size - entry.size;
    this.entries.set(k, { ...entry, json, size });
  }

  #indexOf(k: string, now: number): Record<string, number> {
    const entry = this.#live(k);
    return entry ? Object.fromEntries(Object.entries(JSON.parse(entry.json) as Record<string, number>).filter(([, e]) => e > now)) : {};
  }

  #live(k: string) {
    const entry = this.entries.get(k);
    if (entry && entry.expiresAt <= Date.now()) {
      this.entries.delete(k);
      this.bytes -= entry.size;
      return undefined;
    }
    return entry;
  }
}

const bySoonest = ([a, x]: [string, number], [b, y]: [string, number]) => x - y || (a < b ? -1 : a > b ? 1 : 0);

/** mulberry32: a small seeded generator of integers below n, so that a failure can be replayed. */
function seededRandom(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}

t.test('random index operations: the same members and order as the JSON record', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const reference = new JsonIndexes();
  const random = seededRandom(7);
  const now = Math.floor(Date.now() / 1000);
  const kinds: IndexKind[] = ['grants-by-subject', 'grants-by-client'];
  // Far from now either way, so that nothing expires while the test runs; some ties on purpose.
  const expiry = () => (random(4) === 0 ? now - 1000 - random(20) : now + 1000 + random(20) + (random(3) === 0 ? 0.5 : 0));
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', '10', '9', 'é', '{"event":"created"}', '__proto__'];
  for (let step = 0; step < 3000; step++) {
    const kind = kinds[random(2)];
    const id = `key-${random(3)}`;
    const member = names[random(names.length)];
    const op = random(10);
    if (op < 7) {
      const expiresAt = expiry();
      const max = 1 + random(8);
      await store.index([{ kind, key: id, member, expiresAt, max }]);
      reference.index(kind, id, member, expiresAt, max);
    } else {
      await store.unindex(kind, id, member);
      reference.unindex(kind, id, member);
    }
    for (const k of kinds) for (let i = 0; i < 3; i++) {
      const [got, expected] = [await store.indexMembers(k, `key-${i}`), reference.members(k, `key-${i}`)];
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        t.same(got, expected, `step ${step}: members of ${k} key-${i}`);
        return;
      }
    }
  }
  t.pass('3000 steps alike');
});

t.test('a write the byte bound refuses leaves the index as it was', async (t) => {
  const store = new MemoryStore({ maxBytes: 700 });
  t.teardown(() => store.close());
  const later = Date.now() / 1000 + 600;
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'g1', expiresAt: later, max: 2 }]);
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'g2', expiresAt: later + 1, max: 2 }]);
  const bytes = store.stats().bytes;
  const refused = await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'g3-' + 'x'.repeat(300), expiresAt: later + 2, max: 2 }]).catch((err) => err);
  t.ok(refused instanceof StoreFullError, 'refused: the store is full');
  t.same(await store.indexMembers('grants-by-subject', 'alice'), ['g1', 'g2'], 'the members as they were');
  t.equal(store.stats().bytes, bytes, 'and the bytes');
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'g3', expiresAt: later + 2, max: 2 }]);
  t.same(await store.indexMembers('grants-by-subject', 'alice'), ['g2', 'g3'], 'a write that fits goes through, bounded');
});

t.test('a large index at its bound: the same members and order as the JSON record', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const reference = new JsonIndexes();
  const random = seededRandom(11);
  const now = Math.floor(Date.now() / 1000);
  // Many re-additions of the same members: the queue's discarded entries pile up and it is rebuilt.
  for (let step = 0; step < 3000; step++) {
    const member = `grant-${random(600)}`;
    const expiresAt = random(8) === 0 ? now - 100 - random(50) : now + 1000 + random(300);
    if (random(12) === 0) {
      await store.unindex('grants-by-client', 'tpp', member);
      reference.unindex('grants-by-client', 'tpp', member);
    } else {
      const max = step < 2200 ? 250 : 120; // and a lowered bound: many go at once
      await store.index([{ kind: 'grants-by-client', key: 'tpp', member, expiresAt, max }]);
      reference.index('grants-by-client', 'tpp', member, expiresAt, max);
    }
    if (step % 25 === 0 || step === 2200 || step > 2990) {
      const [got, expected] = [await store.indexMembers('grants-by-client', 'tpp'), reference.members('grants-by-client', 'tpp')];
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        t.same(got, expected, `step ${step}`);
        return;
      }
    }
  }
  t.pass('3000 steps alike');
});

t.test('an index whose members have all expired is removed by the sweep', async (t) => {
  const store = new MemoryStore({ sweepIntervalMs: 100 });
  t.teardown(() => store.close());
  const now = Date.now() / 1000;
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'late', expiresAt: now + 600, max: 5 }]);
  // The key's expiry only rises (as in Redis): 'late' moved earlier leaves it at now + 600.
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'late', expiresAt: now + 1, max: 5 }]);
  t.equal(store.stats().entries, 1, 'one record');
  const deadline = Date.now() + 10_000;
  while (store.stats().entries > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(store.stats().entries, 0, 'gone once its last member expired');
  t.equal(store.stats().bytes, 0, 'and its bytes');
});

/** Adds members to one client's index until the store refuses one; answers how many went in. */
async function fill(store: MemoryStore, expiresAt: number): Promise<number> {
  for (let n = 0; ; n++) {
    const refused = await store.index([{ kind: 'grants-by-client', key: 'tpp', member: `g${n}`, expiresAt, max: 1e6 }]).catch((err) => err);
    if (refused instanceof StoreFullError) return n;
  }
}

async function emptyAll(t: Test, store: MemoryStore, filled: number): Promise<void> {
  for (let n = 0; n < filled; n++) await store.unindex('grants-by-client', 'tpp', `g${n}`);
  t.equal(store.stats().entries, 0, 'all removed: no record left');
  t.equal(store.stats().bytes, 0, 'and no byte left counted');
}

t.test('a full store sweeps before refusing: an index the sweep removed is made anew, the addition kept', async (t) => {
  const store = new MemoryStore({ maxBytes: 65_536, sweepIntervalMs: 3_600_000 });
  t.teardown(() => store.close());
  const now = Date.now() / 1000;
  // alice's index: one member about to expire, its key kept for longer by a member then removed.
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'brief', expiresAt: now + 1, max: 5 }]);
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: 'far', expiresAt: now + 600, max: 5 }]);
  await store.unindex('grants-by-subject', 'alice', 'far');
  const filled = await fill(store, now + 600);
  t.ok(filled > 100, `the store filled up (${filled} members)`);
  await new Promise((resolve) => setTimeout(resolve, 2100)); // brief expires; a full sweep is allowed again
  // Larger than the member the store refused: it fits only once the sweep has run.
  const added = 'new-' + 'x'.repeat(60);
  await store.index([{ kind: 'grants-by-subject', key: 'alice', member: added, expiresAt: now + 3600, max: 5 }]);
  t.same(await store.indexMembers('grants-by-subject', 'alice'), [added], 'the addition is kept');
  await store.unindex('grants-by-subject', 'alice', added);
  await emptyAll(t, store, filled);
});

t.test('a full store sweeps before refusing: a record the sweep removed is written anew, its bytes counted once', async (t) => {
  const store = new MemoryStore({ maxBytes: 65_536, sweepIntervalMs: 3_600_000 });
  t.teardown(() => store.close());
  const now = Date.now() / 1000;
  await store.set('session', 'old', { a: 1 }, 1);
  const filled = await fill(store, now + 600);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  // Larger than before by more than the member the store refused: it fits only once the sweep has run.
  const larger = { a: 'x'.repeat(100) };
  await store.set('session', 'old', larger, 600);
  t.same(await store.get('session', 'old'), larger, 'written');
  await store.delete('session', 'old');
  await emptyAll(t, store, filled);
});

t.test('the sweep drops an index\'s expired members through its queue, and removes it once empty', async (t) => {
  const store = new MemoryStore({ sweepIntervalMs: 100 });
  t.teardown(() => store.close());
  const now = Date.now() / 1000;
  // Past its bound once, so the index has its queue; then members expire at different times.
  for (let i = 0; i < 6; i++) await store.index([{ kind: 'grants-by-client', key: 'tpp', member: `g${i}`, expiresAt: now + 1 + (i % 2), max: 5 }]);
  t.same(await store.indexMembers('grants-by-client', 'tpp'), ['g2', 'g4', 'g1', 'g3', 'g5'], 'bounded: the soonest went');
  const deadline = Date.now() + 10_000;
  while (store.stats().entries > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(store.stats().entries, 0, 'removed once its last member expired');
  t.equal(store.stats().bytes, 0, 'and its bytes');
});
