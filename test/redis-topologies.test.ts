/**
 * The Redis store on the topologies a bank runs, each with real redis-server processes: a Cluster of
 * three primaries (records spread over hash slots on every node) and a Sentinel-watched primary
 * with a replica, failed over while the store is in use.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { RedisStore } from '../src/store/redis.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { eventually, id, storeSuite } from './helpers/store-suite.js';
import { freePort, portFree } from './helpers/ports.js';

const run = promisify(execFile);

/** A port for a cluster node: it and its cluster bus port (port + 10000) both free; below freePort's range. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 11_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) {
      taken.add(port).add(port + 10_000);
      return port;
    }
  }
}

if (requireProgram(t, 'redis-server', 'apt-get install redis-server') && requireProgram(t, 'redis-cli', 'apt-get install redis-tools')) {
  t.test('Redis Cluster of three primaries', async (t) => {
    const taken = new Set<number>();
    const ports = [await clusterPort(taken), await clusterPort(taken), await clusterPort(taken)];
    const nodes: RedisServer[] = await Promise.all(
      ports.map((port) => startRedisServer({ port, args: ['--cluster-enabled', 'yes'] })),
    );
    t.teardown(() => Promise.all(nodes.map((n) => n.stop())));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    const admin = ports.map((port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true }));
    t.teardown(() => admin.forEach((r) => r.disconnect()));
    await eventually(async () => {
      for (const r of admin) if (!/cluster_state:ok/.test(await r.cluster('INFO'))) throw new Error('cluster not ready');
    }, 20_000);

    const prefix = `fapi-gateway-cluster:${randomUUID()}:`;
    const store = new RedisStore({ url: 'redis://127.0.0.1', keyPrefix: prefix, cluster: { nodes: [{ host: '127.0.0.1', port: ports[0] }] } });
    t.teardown(() => store.close());
    await eventually(() => store.ping(), 10_000);
    await storeSuite(t, store);

    await t.test('records land on every node, and a revocation check spans them', async (t) => {
      const ids = Array.from({ length: 30 }, id);
      await Promise.all(ids.map((k) => store.set('revoked-at', k, 1, 60)));
      const perNode = await Promise.all(admin.map((r) => r.dbsize()));
      t.ok(perNode.every((n) => n > 0), `keys on each node: ${perNode.join(', ')}`);
      t.equal(await store.anyExists([['grant-ended', id()], ['revoked-at', ids[29]]]), true, 'found across slots');
      t.equal(await store.anyExists(ids.slice(0, 3).map((k) => ['grant-ended', k] as const)), false);
    });
  });

  t.test('Redis Sentinel: the store follows a failover to the promoted replica', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-sentinel-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const primary = await startRedisServer();
    t.teardown(() => primary.stop());
    const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    t.teardown(() => replica.stop());
    const sentinelPort = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        `sentinel monitor gateway 127.0.0.1 ${primary.port} 1`,
        'sentinel down-after-milliseconds gateway 1000',
        'sentinel failover-timeout gateway 10000',
        '',
      ].join('\n'),
    );
    const sentinel = await startRedisServer({ port: sentinelPort, configFile: conf, args: ['--sentinel'] });
    t.teardown(() => sentinel.stop());
    const admin = new Redis({ host: '127.0.0.1', port: sentinelPort, lazyConnect: true });
    t.teardown(() => admin.disconnect());
    // The sentinel learns of the replica from the primary's INFO, within a few seconds.
    await eventually(async () => {
      const replicas = (await admin.call('SENTINEL', 'REPLICAS', 'gateway')) as unknown[];
      if (replicas.length === 0) throw new Error('no replica known yet');
    }, 20_000);

    const prefix = `fapi-gateway-sentinel:${randomUUID()}:`;
    const store = new RedisStore({ url: 'redis://ignored', keyPrefix: prefix, sentinel: { name: 'gateway', sentinels: [{ host: '127.0.0.1', port: sentinelPort }] } });
    t.teardown(() => store.close());
    await eventually(() => store.ping(), 10_000);
    const before = id();
    await store.set('grant', before, { written: 'before' }, 600);
    const onReplica = new Redis({ host: '127.0.0.1', port: replica.port, lazyConnect: true });
    t.teardown(() => onReplica.disconnect());
    await eventually(async () => {
      if ((await onReplica.get(`${prefix}grant:${before}`)) === null) throw new Error('not replicated yet');
      // The replica's first full sync can take a while on a busy machine.
    }, 30_000);

    await admin.call('SENTINEL', 'FAILOVER', 'gateway');
    await eventually(async () => {
      const [, port] = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'gateway')) as string[];
      if (Number(port) !== replica.port) throw new Error('not failed over yet');
    }, 20_000);
    // The old primary is now a replica and refuses writes (READONLY): the store reconnects to the new one.
    const after = id();
    await eventually(() => store.set('grant', after, { written: 'after' }, 600), 20_000);
    t.same(await store.get('grant', after), { written: 'after' }, 'writes go to the promoted replica');
    t.same(await store.get('grant', before), { written: 'before' }, 'what was written before the failover is still there');
  });
}
