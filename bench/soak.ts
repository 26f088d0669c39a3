/**
 * Does state end? Runs N complete flows (PAR → login → consent → token → userinfo → refresh with
 * rotation; client-two, so no assertion replay records) against an in-process gateway with short
 * lifetimes (a policy tightens the profile), then reports the heap (after a forced GC) and the
 * store's size: before, right after the flows, and once every lifetime has passed. Run on the
 * memory store and on a redis-server started here on loopback.
 *
 *   npm run bench:soak -- --flows 1000 --concurrency 8 --warmup 100 --stores memory,redis
 *
 * Expect "after lifetimes" back near "before": nothing the gateway keeps outlives its lifetime.
 * The memory store's count comes from a thin wrapper that tracks each record's expiry (part of the
 * heap right after the flows, empty afterwards); the memory store frees expired records in its
 * 10 s sweep, which the wait covers.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createGateway } from '../src/app.js';
import { resolveConfig } from '../src/config/load.js';
import { MemoryStore } from '../src/store/memory.js';
import type { RecordKeys, RecordKind, SequenceStep, Store } from '../src/store/store.js';
import { connectHarness, testConfig, testPki, type Harness } from '../test/helpers/harness.js';
import { fullFlow, refresh, userinfo } from '../test/helpers/flow.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { runBounded } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    // Flows before the first sample: the heap then holds the optimised code already (about 1.5 MB).
    warmup: { type: 'string', default: '100' },
    stores: { type: 'string', default: 'memory,redis' },
    'max-seconds': { type: 'string', default: '600' },
  },
});
const flows = Number(args.flows);
const concurrency = Number(args.concurrency);
const warmup = Number(args.warmup);
const maxMs = Number(args['max-seconds']) * 1000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:soak does)');

// Seconds: short, so that "every lifetime has passed" comes within the run.
const LIFETIMES = { code: 10, requestUri: 10, accessToken: 10, idToken: 10, refreshToken: 20, interaction: 30, session: 20, grant: 30 };
// A pushed request of a flow that failed midway lives requestUri + interaction: the longest of all.
const LONGEST_S = Math.max(LIFETIMES.grant, LIFETIMES.requestUri + LIFETIMES.interaction);
const MEMORY_SWEEP_S = 10;
const KEY_PREFIX = 'fapi-gateway-soak:';

/** The memory store, counting its live records (each key's expiry, dropped once passed or deleted). */
class CountingStore implements Store {
  readonly #inner = new MemoryStore();
  readonly #expiry = new Map<string, number>();
  get size(): number {
    const now = Date.now();
    for (const [k, at] of this.#expiry) if (at <= now) this.#expiry.delete(k);
    return this.#expiry.size;
  }
  set(kind: RecordKind, id: string, value: unknown, ttl: number) {
    this.#expiry.set(`${kind}:${id}`, Date.now() + ttl * 1000);
    return this.#inner.set(kind, id, value, ttl);
  }
  async setIfAbsent(kind: RecordKind, id: string, value: unknown, ttl: number) {
    const wrote = await this.#inner.setIfAbsent(kind, id, value, ttl);
    if (wrote) this.#expiry.set(`${kind}:${id}`, Date.now() + ttl * 1000);
    return wrote;
  }
  get<T>(kind: RecordKind, id: string) {
    return this.#inner.get<T>(kind, id);
  }
  getMany<T extends readonly unknown[]>(keys: RecordKeys<T>) {
    return this.#inner.getMany<T>(keys);
  }
  consume<T>(kind: RecordKind, id: string) {
    this.#expiry.delete(`${kind}:${id}`);
    return this.#inner.consume<T>(kind, id);
  }
  anyExists(keys: ReadonlyArray<readonly [RecordKind, string]>) {
    return this.#inner.anyExists(keys);
  }
  async sequence(steps: readonly SequenceStep[]) {
    const outcome = await this.#inner.sequence(steps);
    // Every step that ran and wrote a record (a set, or a set-if-absent that found none).
    steps.forEach((step, i) => {
      if ('set' in step && outcome[i] === true) this.#expiry.set(`${step.set}:${step.id}`, Date.now() + step.ttlSeconds * 1000);
    });
    return outcome;
  }
  addMember: Store['addMember'] = (set, member, max) => this.#inner.addMember(set, member, max);
  removeMember: Store['removeMember'] = (set, member) => this.#inner.removeMember(set, member);
  members: Store['members'] = (set) => this.#inner.members(set);
  index: Store['index'] = async (entries) => {
    for (const e of entries) this.#expiry.set(`index/${e.kind}:${e.key}`, Math.max(this.#expiry.get(`index/${e.kind}:${e.key}`) ?? 0, e.expiresAt * 1000));
    return this.#inner.index(entries);
  };
  indexMembers: Store['indexMembers'] = (kind, key) => this.#inner.indexMembers(kind, key);
  unindex: Store['unindex'] = (kind, key, member) => this.#inner.unindex(kind, key, member);
  publish: Store['publish'] = (channel, message) => this.#inner.publish(channel, message);
  subscribe: Store['subscribe'] = (channel, listener) => this.#inner.subscribe(channel, listener);
  delete(kind: RecordKind, id: string) {
    this.#expiry.delete(`${kind}:${id}`);
    return this.#inner.delete(kind, id);
  }
  ping() {
    return this.#inner.ping();
  }
  close() {
    return this.#inner.close();
  }
}

/** One soak flow: authorization, token, a resource call (the verified-token cache), a refresh with rotation. */
async function flow(h: Harness): Promise<void> {
  const { tokens } = await fullFlow(h, 'client-two');
  const info = await userinfo(h, tokens.access_token, 'client-two');
  if (info.status !== 200) throw new Error(`userinfo ${info.status}`);
  const rotated = await refresh(h, tokens.refresh_token, 'client-two');
  if (rotated.status !== 200) throw new Error(`refresh ${rotated.status}`);
}

async function heapMb(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed / 1_048_576;
}

interface Sample {
  heapMb: number;
  records: number;
  storeBytes?: number;
}

async function soak(storeName: 'memory' | 'redis'): Promise<Sample[]> {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  config.policy = { lifetimes: LIFETIMES, refreshTokenRotation: { enabled: true, graceSeconds: 5 } };
  const redis = storeName === 'redis' ? await startRedisServer() : undefined;
  if (redis) config.store = { type: 'redis', url: redis.url, keyPrefix: KEY_PREFIX };
  const counting = storeName === 'memory' ? new CountingStore() : undefined;
  const discard = new Writable({ write: (_c, _e, done) => done() });
  const loaded = await resolveConfig(config, dir, {});
  const gateway = await createGateway(loaded, { logger: { level: 'warn', stream: discard }, store: counting });
  await gateway.listen();
  const h: Harness = await connectHarness({ pki, issuer: loaded.config.issuer, mtlsBase: gateway.context.urls.mtlsBase, gateway });
  const admin = redis ? new Redis(redis.url) : undefined;
  const sample = async (): Promise<Sample> => {
    const heap = await heapMb();
    if (admin) {
      const memory = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
      return { heapMb: heap, records: await admin.dbsize(), storeBytes: memory };
    }
    return { heapMb: heap, records: counting!.size };
  };
  try {
    // Warm up: code paths compiled, agents connected.
    await runBounded({ count: warmup, concurrency, maxMs, task: () => flow(h) });
    await sleep((LONGEST_S + 1 + (counting ? MEMORY_SWEEP_S : 0)) * 1000);
    const before = await sample();
    const run = await runBounded({
      count: flows,
      concurrency,
      maxMs,
      task: () => flow(h),
    });
    if (run.failures.size) console.log(`${storeName}: failures`, Object.fromEntries(run.failures));
    const after = await sample();
    const waitS = LONGEST_S + 2 + (counting ? MEMORY_SWEEP_S : 0);
    console.log(`${storeName}: ${run.succeeded} flows in ${(run.elapsedMs / 1000).toFixed(1)} s; waiting ${waitS} s for every lifetime to pass`);
    await sleep(waitS * 1000);
    const expired = await sample();
    return [before, after, expired, { heapMb: run.succeeded, records: 0 }];
  } finally {
    await admin?.quit();
    await h.close();
    await redis?.stop();
  }
}

const rows: string[] = [];
for (const store of args.stores.split(',') as Array<'memory' | 'redis'>) {
  const [before, after, expired, { heapMb: done }] = await soak(store);
  const perFlow = (a: Sample, b: Sample) => `${(((b.heapMb - a.heapMb) * 1_048_576) / done).toFixed(0)} B`;
  const bytes = (s: Sample) => (s.storeBytes === undefined ? '' : ` redis used_memory ${(s.storeBytes / 1_048_576).toFixed(2)} MB`);
  rows.push(
    `${store.padEnd(6)} ${done} flows | heap MB before ${before.heapMb.toFixed(1)}, after flows ${after.heapMb.toFixed(1)} (${perFlow(before, after)}/flow), after lifetimes ${expired.heapMb.toFixed(1)} (${perFlow(before, expired)}/flow)`,
    `${''.padEnd(6)} records before ${before.records}, after flows ${after.records}, after lifetimes ${expired.records} |${bytes(before)} →${bytes(after)} →${bytes(expired)}`,
  );
}
console.log(`\nlifetimes (s): ${JSON.stringify(LIFETIMES)}; concurrency ${concurrency}, warmup ${warmup} flows`);
for (const row of rows) console.log(row);
