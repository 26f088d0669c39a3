import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { ConfigError } from '../src/config/config-error.js';
import { createStore } from '../src/store/create-store.js';
import { MemoryStore } from '../src/store/memory.js';
import { RedisStore } from '../src/store/redis.js';
import { StoreUnavailableError } from '../src/store/store.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer } from './helpers/redis-server.js';
import { eventually, id, storeSuite, within } from './helpers/store-suite.js';

/** Once Redis answers again, the same store instance writes and consumes. */
async function worksAgain(t: Test, store: RedisStore): Promise<void> {
  await eventually(() => store.ping());
  const fresh = id();
  await store.set('code', fresh, { grant: 'after' }, 60);
  t.same(await store.consume('code', fresh), { grant: 'after' }, 'the same instance works again');
}

const freshPrefix = () => `fapi-gateway-test:${randomUUID()}:`;

t.test('MemoryStore', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  await storeSuite(t, store);
});

t.test('createStore builds the configured backend', async (t) => {
  const memory = await createStore({ type: 'memory' });
  t.ok(memory instanceof MemoryStore);
  await memory.close();
  // Nothing listens on port 1; building must not wait for a connection.
  const redis = await createStore({ type: 'redis', url: 'redis://127.0.0.1:1' });
  t.ok(redis instanceof RedisStore);
  await redis.close();
  await t.rejects(createStore({ type: 'redis', url: 'redis://127.0.0.1:1', tls: { ca: import.meta.filename } }), new ConfigError('store.tls', 'needs a rediss:// url'));
  const unreadable = await createStore({ type: 'redis', url: 'rediss://127.0.0.1:1', tls: { ca: '/nonexistent/ca.pem' } }).catch((e) => e);
  t.ok(unreadable instanceof ConfigError && unreadable.keyPath === 'store.tls.ca', 'an unreadable CA is a config error');
});

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  t.test('RedisStore', async (t) => {
    const server = await startRedisServer();
    t.teardown(() => server.stop());
    const prefix = freshPrefix();
    const store = new RedisStore({ url: server.url, keyPrefix: prefix });
    t.teardown(() => store.close());
    await eventually(() => store.ping());
    await storeSuite(t, store);

    await t.test("copy: the records of a flow's kinds this replica wrote or read, until taken, deleted or their time is up", async (t) => {
      const [a, b, c] = [id(), id(), id()];
      await store.set('interaction', a, { csrf: 'x' }, 60);
      t.same(store.copy('interaction', a), { csrf: 'x' }, 'a write is copied');
      const copied = store.copy<{ csrf: string }>('interaction', a)!;
      copied.csrf = 'changed by a caller';
      t.same(store.copy('interaction', a), { csrf: 'x' }, 'a caller cannot change the copy');
      t.equal(store.copy('grant', a), undefined, 'other kinds are not copied');
      await store.set('grant', a, { v: 1 }, 60);
      t.equal(store.copy('grant', a), undefined);

      const other = new RedisStore({ url: server.url, keyPrefix: prefix });
      t.teardown(() => other.close());
      await eventually(() => other.ping());
      t.equal(other.copy('interaction', a), undefined, 'another replica has no copy');
      await other.getMany([['interaction', a], ['par', b]]);
      t.same(other.copy('interaction', a), { csrf: 'x' }, 'a read is copied');
      t.equal(other.copy('par', b), undefined, 'a record not found is not');

      await other.set('interaction', a, { csrf: 'x', sub: 'alice' }, 60);
      t.same(store.copy('interaction', a), { csrf: 'x' }, "a replica's copy can be stale: whoever uses it guards on it");
      t.same(await store.sequence([{ unchanged: 'interaction', id: a, value: store.copy('interaction', a) }]), [false], 'the guard sees the change');

      await store.setIfAbsent('code', b, { grantId: 'g' }, 1);
      t.same(store.copy('code', b), { grantId: 'g' });
      await sleep(1_100);
      t.equal(store.copy('code', b), undefined, "a written record's copy ends with its lifetime");
      await store.set('par', c, { request: {} }, 60);
      await store.sequence([{ take: 'par', id: c }]);
      t.equal(store.copy('par', c), undefined, 'a taken record is no longer copied');
      await store.set('par', c, { request: {} }, 60);
      await store.consume('par', c);
      t.equal(store.copy('par', c), undefined, 'nor a consumed one');
      await store.set('par', c, { request: {} }, 60);
      await store.delete('par', c);
      t.equal(store.copy('par', c), undefined, 'nor a deleted one');
    });

    await t.test('the commands issued together reach Redis in one read', async (t) => {
      // The batching relies on the client's connection stream (RedisStore's #batch): were it gone,
      // every command would be a write and a read of its own, and only the benchmarks would notice.
      const admin = new Redis(server.url);
      t.teardown(() => admin.quit());
      const reads = async () => Number(/total_reads_processed:(\d+)/.exec(await admin.info('stats'))![1]);
      const [a, b] = [id(), id()];
      const before = await reads();
      await Promise.all([
        store.set('grant', a, { v: 1 }, 60),
        store.getMany([['grant', b], ['session', b]]),
        store.sequence([{ absent: 'revoked-at', id: a }, { set: 'grant', id: b, value: { v: 2 }, ttlSeconds: 60 }]),
        Promise.resolve().then(() => store.get('grant', a)),
      ]);
      // The admin's second INFO is one read more.
      t.equal((await reads()) - before, 2, "four commands, one of them from a later tick, in one read");
    });

    await t.test('records are prefixed JSON keys with a Redis TTL', async (t) => {
      const raw = new Redis(server.url);
      t.teardown(() => raw.quit());
      const k = id();
      await store.set('refresh', k, { a: 1 }, 30);
      t.equal(await raw.get(`${prefix}refresh:${k}`), '{"a":1}');
      const pttl = await raw.pttl(`${prefix}refresh:${k}`);
      t.ok(pttl > 0 && pttl <= 30_000, `PTTL ${pttl} is within the TTL`);
      const other = new RedisStore({ url: server.url, keyPrefix: freshPrefix() });
      t.teardown(() => other.close());
      await eventually(() => other.ping());
      t.equal(await other.get('refresh', k), undefined, 'another prefix sees nothing');
    });
  });

  t.test('RedisStore fails closed while Redis is down and recovers by itself', async (t) => {
    const server = await startRedisServer();
    t.teardown(() => server.stop());
    const store = new RedisStore({ url: server.url, keyPrefix: freshPrefix() });
    t.teardown(() => store.close());
    await eventually(() => store.ping());
    const k = id();
    await store.set('code', k, { grant: 'g' }, 60);

    await server.stop();
    const operations: Record<string, () => Promise<unknown>> = {
      set: () => store.set('code', id(), 1, 60),
      setIfAbsent: () => store.setIfAbsent('jti', id(), 1, 60),
      get: () => store.get('code', k),
      getMany: () => store.getMany([['code', k], ['par', k]]),
      consume: () => store.consume('code', k),
      anyExists: () => store.anyExists([['revoked-at', k], ['grant-ended', k]]),
      delete: () => store.delete('code', k),
      ping: () => store.ping(),
    };
    for (const [name, operation] of Object.entries(operations)) {
      await t.rejects(within(operation(), 2_000), StoreUnavailableError, `${name} rejects with StoreUnavailableError`);
    }

    await server.restart();
    await worksAgain(t, store);
  });

  t.test('RedisStore fails closed while Redis hangs and works again when it answers', async (t) => {
    const server = await startRedisServer();
    t.teardown(async () => {
      server.resume();
      await server.stop();
    });
    const store = new RedisStore({ url: server.url, keyPrefix: freshPrefix() });
    t.teardown(() => store.close());
    await eventually(() => store.ping());

    server.pause();
    // The connection stays up and nothing answers: each command gives up after its timeout.
    await t.rejects(within(store.get('code', id()), 3_000), StoreUnavailableError, 'get rejects with StoreUnavailableError');
    await t.rejects(within(store.setIfAbsent('jti', id(), 1, 60), 3_000), StoreUnavailableError, 'setIfAbsent rejects with StoreUnavailableError');

    server.resume();
    await worksAgain(t, store);
  });

  t.test('RedisStore that never reached Redis rejects and closes', async (t) => {
    const server = await startRedisServer();
    await server.stop(); // a port known to be free, with nothing listening
    const store = new RedisStore({ url: server.url });
    await t.rejects(within(store.ping(), 2_000), StoreUnavailableError);
    await t.rejects(within(store.get('code', id()), 2_000), StoreUnavailableError);
    await t.resolves(within(store.close(), 2_000));
  });
}
