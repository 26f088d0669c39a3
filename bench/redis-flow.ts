/**
 * Complete flows per second with the memory store and with Redis, in one run: PAR → authorization
 * with a reused login session (consent every time) → token, the same load against the same build,
 * once per store. The gateway runs from dist/ in a child process; Redis is a redis-server started
 * here on loopback (no persistence) and stopped at the end. Also counts the store commands per flow
 * (INFO commandstats over the timed window) and the store round trips of one flow alone (INFO stats
 * read events; under load Redis reads several flows' batches at once), and lists one flow's commands
 * (MONITOR).
 * Client assertions are pre-signed; one logged-in browser per concurrent flow, as in bench/flow.ts.
 *
 *   npm run bench:redis -- --flows 1000 --concurrency 8 --warmup 200 --rounds 3
 *   npm run bench:redis -- --stores redis --gateway-root /tmp/other-build   # one store, another build
 *
 * On a shared machine flows/s moves with the neighbours: use --rounds. Memory and Redis alternate
 * (which goes first swaps every round), each round's Redis run is compared with its own memory run,
 * and the median of those ratios is the result; read the CPU ms per flow too, the steadier figure.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { FLOW_OPTIONS, flowSettings, gatewayRun, gatewaySource } from './lib/args.js';
import { gatewayTarget, logInBrowsers } from './lib/flow-targets.js';
import { flowMaterial, type FlowMaterial } from './lib/oauth-client.js';
import { benchPki, type BenchPki } from './lib/pki.js';
import { fixed, perSecond, printFailures, printTable, runBounded, runColumns, timedRun, type TimedRun } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    ...FLOW_OPTIONS,
    rounds: { type: 'string', default: '1' },
    stores: { type: 'string', default: 'memory,redis' },
  },
});
const { flows, concurrency, warmup, maxMs, alg } = flowSettings(args);
const rounds = Number(args.rounds);
const stores = args.stores.split(',') as StoreName[];
for (const store of stores) if (store !== 'memory' && store !== 'redis') throw new Error(`unknown store ${store}`);
const TARGET_RATIO = 0.8;
const KEY_PREFIX = 'fapi-gateway-bench:';

type StoreName = 'memory' | 'redis';

/** Redis command counts (INFO commandstats), without the bench's own INFO/CONFIG/MONITOR. */
async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m && !['info', 'config', 'monitor', 'ping', 'client', 'hello', 'select'].includes(m[1].split('|')[0])) counts.set(m[1], Number(m[2]));
  }
  return counts;
}

/** Redis's own CPU time so far (INFO cpu), in ms. */
async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Read events Redis has processed so far (INFO stats): one per batch of commands that arrives. */
async function readsProcessed(redis: Redis): Promise<number> {
  return Number(/^total_reads_processed:(\d+)/m.exec(await redis.info('stats'))?.[1] ?? NaN);
}

/** The store round trips `run` makes: the read events Redis processes meanwhile, less the closing INFO's own. */
async function roundTrips(admin: Redis, run: () => Promise<unknown>): Promise<number> {
  const before = await readsProcessed(admin);
  await run();
  return (await readsProcessed(admin)) - before - 1;
}

/** The commands one flow sends, in order, with each key shown as its record kind (MONITOR). */
async function monitorOneFlow(admin: Redis, run: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const monitor = await admin.monitor();
  monitor.on('monitor', (_time: string, argv: string[]) => {
    const [command, key] = argv;
    if (!key?.startsWith(KEY_PREFIX)) return;
    const kind = key.slice(KEY_PREFIX.length).split(':')[0];
    const flags = argv.slice(3).filter((a) => /^(NX|PX)$/i.test(a)).join(' ');
    seen.push(`${command.toUpperCase()} ${kind}${flags ? ' ' + flags.toUpperCase() : ''}`);
  });
  await run();
  await new Promise((r) => setTimeout(r, 200)); // MONITOR lines trail the replies
  monitor.disconnect();
  return seen;
}

interface Measured extends TimedRun {
  store: StoreName;
  redisCpuMs?: number;
  commandsPerFlow?: number;
  commands?: Map<string, number>;
}

async function measure(
  pki: BenchPki,
  store: StoreName,
  redisServer: RedisServer | undefined,
  admin: Redis | undefined,
): Promise<{ result: Measured; trace?: string[]; alone?: number }> {
  const storeConfig = store === 'redis' ? { type: 'redis', url: redisServer!.url, keyPrefix: KEY_PREFIX } : { type: 'memory' };
  const target = await gatewayTarget(pki, { ...gatewayRun(args), alg, concurrency, store: storeConfig });
  try {
    // One browser per concurrent flow, each logged in once through an untimed flow.
    const browsers = (await logInBrowsers(target, pki, concurrency)).map((l) => l.browser);
    const task = (material: FlowMaterial[]) => (i: number, worker: number) => target.flow(material[i], browsers[worker]);
    const warm = await flowMaterial(pki.clientOne.jwk, target.audience, warmup);
    printFailures(`${store} warm-up`, await runBounded({ count: warmup, concurrency, maxMs, task: task(warm) }));

    const material = await flowMaterial(pki.clientOne.jwk, target.audience, flows);
    if (admin) await admin.config('RESETSTAT');
    const redisBefore = admin ? await redisCpuMs(admin) : 0;
    const timed = await timedRun(target.server, { count: flows, concurrency, maxMs, task: task(material) });
    const { run } = timed;
    const result: Measured = { store, ...timed };
    if (admin) {
      result.redisCpuMs = (await redisCpuMs(admin)) - redisBefore;
      result.commands = await commandCounts(admin);
      result.commandsPerFlow = [...result.commands.values()].reduce((a, b) => a + b, 0) / run.attempted;
    }
    printFailures(store, run);
    if (run.failures.size > 0) console.log(`  last lines the gateway printed:\n${target.server.output().split('\n').slice(-10).join('\n')}`);
    if (run.timedOut) console.log(`  stopped by the ${maxMs / 1000} s bound after ${run.attempted} flows`);
    let trace: string[] | undefined;
    let alone: number | undefined;
    if (admin) {
      const [one, two] = await flowMaterial(pki.clientOne.jwk, target.audience, 2);
      alone = await roundTrips(admin, () => target.flow(two, browsers[0]));
      trace = await monitorOneFlow(admin, () => target.flow(one, browsers[0]));
    }
    return { result, trace, alone };
  } finally {
    await target.close();
  }
}

const pki = await benchPki();
let redisServer: RedisServer | undefined;
let admin: Redis | undefined;
const results: Measured[] = [];
let trace: string[] | undefined;
let alone: number | undefined;
try {
  redisServer = await startRedisServer();
  admin = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  const version = /^redis_version:(.*)$/m.exec(await admin.info('server'))?.[1]?.trim();
  console.log(
    `${flows} flows per store at concurrency ${concurrency} (warm-up ${warmup}, ${rounds} round${rounds > 1 ? 's' : ''}), tokens signed ${alg}, ${gatewaySource(args)}; redis-server ${version} on ${redisServer.url}`,
  );
  for (let round = 1; round <= rounds; round++) {
    // Swapping the order every round cancels a drift of the machine's speed within a round.
    for (const store of round % 2 === 1 ? stores : [...stores].reverse()) {
      const measured = await measure(pki, store, redisServer, store === 'redis' ? admin : undefined);
      results.push(measured.result);
      trace ??= measured.trace;
      alone ??= measured.alone;
      const r = measured.result.run;
      console.log(`  round ${round} ${store}: ${fixed(perSecond(r), 1)} flows/s`);
    }
  }
} finally {
  admin?.disconnect();
  await redisServer?.stop();
  await pki.remove();
}

const flowsPerSecond = (m: Measured) => perSecond(m.run);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log();
printTable(
  ['store', 'flows', 'failed', 'flows/s', 'p50 ms', 'p99 ms', 'gateway CPU ms/flow', 'redis CPU ms/flow', 'bench CPU ms/flow', 'store commands/flow'],
  results.map((m) => [
    m.store,
    ...runColumns(m.run, 1),
    fixed(m.serverCpuMs / m.run.attempted, 2),
    m.redisCpuMs === undefined ? '-' : fixed(m.redisCpuMs / m.run.attempted, 2),
    fixed(m.benchCpuMs / m.run.attempted, 2),
    m.commandsPerFlow === undefined ? '-' : fixed(m.commandsPerFlow, 1),
  ]),
);
const memory = median(results.filter((m) => m.store === 'memory').map(flowsPerSecond));
const redis = median(results.filter((m) => m.store === 'redis').map(flowsPerSecond));
const ratio = redis / memory;
if (stores.length === 2) {
  const ofRound = (store: StoreName) => results.filter((m) => m.store === store).map(flowsPerSecond);
  const [memoryRuns, redisRuns] = [ofRound('memory'), ofRound('redis')];
  const perRound = redisRuns.map((r, i) => r / memoryRuns[i]);
  const paired = median(perRound);
  console.log(`\nflows/s${rounds > 1 ? ' (median of the rounds)' : ''}: memory ${fixed(memory, 1)}, redis ${fixed(redis, 1)}; ratio of the medians ${fixed(ratio * 100, 1)}%`);
  console.log(
    `redis/memory, round by round: ${perRound.map((r) => `${fixed(r * 100, 1)}%`).join(', ')}; median ${fixed(paired * 100, 1)}% (target ≥ ${TARGET_RATIO * 100}%: ${paired >= TARGET_RATIO ? 'met' : 'NOT met'})`,
  );
}
// On a busy machine throughput swings with the neighbours; CPU per flow is steadier. When everything
// shares the same cores, flows/s goes as 1 / (all CPU per flow), so this ratio is what an idle
// machine of this size would show.
const cpuPerFlow = (m: Measured) => (m.serverCpuMs + (m.redisCpuMs ?? 0) + m.benchCpuMs) / m.run.attempted;
const cpuMemory = median(results.filter((m) => m.store === 'memory').map(cpuPerFlow));
const cpuRedis = median(results.filter((m) => m.store === 'redis').map(cpuPerFlow));
if (stores.length === 2) console.log(`CPU ms per flow, gateway + redis-server + bench: memory ${fixed(cpuMemory)}, redis ${fixed(cpuRedis)}; CPU-bound ratio memory/redis = ${fixed((cpuMemory / cpuRedis) * 100, 1)}%`);
const last = results.filter((m) => m.store === 'redis').at(-1);
if (last?.commands) {
  const perFlow = [...last.commands].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${fixed(n / last.run.attempted, 1)}`);
  console.log(`Redis commands per flow (timed window): ${perFlow.join(', ')}`);
}
if (trace) console.log(`One flow, command by command (${trace.length}): ${trace.join(' → ')}`);
if (alone !== undefined) console.log(`One flow alone: ${alone} store round trips`);
if (results.some((m) => m.run.failures.size > 0)) process.exitCode = 1;
