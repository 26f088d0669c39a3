/**
 * Complete flows per second with the memory store and with Redis, in one run, for each kind of flow:
 * `fapi2` (PAR → authorization with a reused login session, consent every time → token), `cdr` (the
 * same on profile cdr: a signed request object with a sharing_duration, an arrangement created at
 * approval, a pairwise sub) and `brazil` (profile brazil: the consent created through the Consents
 * API first, then PAR with `consent:<id>`, approval choosing an account, token). The same load
 * against the same build, on both stores at once. The gateway runs from dist/ in a child process per store; Redis is a
 * redis-server started here on loopback (no persistence) and stopped at the end. Also counts the
 * store commands per flow (INFO commandstats over the timed window) and the store round trips of one
 * flow alone, step by step (INFO stats read events between its HTTP requests; under load Redis reads
 * several flows' batches at once), and lists one flow's commands (MONITOR).
 * Client assertions are pre-signed; one logged-in browser per concurrent flow, as in bench/flow.ts.
 *
 *   npm run bench:redis -- --flows 1000 --concurrency 16 --warmup 200 --rounds 3 --slices 5
 *   npm run bench:redis -- --flow cdr,brazil                                 # some flows only
 *   npm run bench:redis -- --stores redis --gateway-root /tmp/other-build   # one store, another build
 *
 * On a shared machine flows/s moves with the neighbours from one second to the next. So each round
 * starts a gateway per store, and their timed flows take turns in --slices (which store goes first
 * swapping every slice): each Redis slice is compared with the memory slice run just before or after
 * it, and the median of those ratios over all rounds is the result. Read the CPU ms per flow too.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { FLOW_OPTIONS, flowSettings, gatewayRun, gatewaySource } from './lib/args.js';
import { FLOW_KINDS, flowSetup, type FlowKind, type FlowSetup } from './lib/ecosystem-flows.js';
import { gatewayTarget, logInBrowsers, type FlowTarget } from './lib/flow-targets.js';
import type { CookieJar } from './lib/http.js';
import { benchPki, type BenchPki } from './lib/pki.js';
import { fixed, mergeRuns, perSecond, printFailures, printTable, runBounded, runColumns, timedRun, type TimedRun } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    ...FLOW_OPTIONS,
    // Throughput compared where both gateways are saturated, at the concurrency of the issue's side-by-side
    // figures: at 8 neither gateway's main thread is busy all the time (75-80% here), and Redis flows/s
    // then follow the round trips' latency more than the store's cost (docs/scaling.md).
    concurrency: { type: 'string', default: '16' },
    // A gateway per store per round; the machine's speed drifts within seconds, so the stores take turns in slices.
    rounds: { type: 'string', default: '3' },
    slices: { type: 'string', default: '5' },
    stores: { type: 'string', default: 'memory,redis' },
    flow: { type: 'string', default: FLOW_KINDS.join(',') },
  },
});
const { flows, concurrency, warmup, maxMs, alg } = flowSettings(args);
const rounds = Number(args.rounds);
const slices = Math.max(1, Number(args.slices));
const stores = args.stores.split(',') as StoreName[];
for (const store of stores) if (store !== 'memory' && store !== 'redis') throw new Error(`unknown store ${store}`);
const kinds = args.flow.split(',') as FlowKind[];
for (const kind of kinds) if (!FLOW_KINDS.includes(kind)) throw new Error(`unknown flow ${kind} (${FLOW_KINDS.join(', ')})`);
const TARGET_RATIO = 0.9;
const KEY_PREFIX = 'fapi-gateway-bench:';

type StoreName = 'memory' | 'redis';
type After = (step: string) => Promise<void>;

/** Redis command counts and the µs Redis spent in them (INFO commandstats: those scripts run included; an EVALSHA's µs include its commands'), without the bench's own INFO/CONFIG/MONITOR. */
async function commandCounts(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const counts = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m && !['info', 'config', 'monitor', 'ping', 'client', 'hello', 'select'].includes(m[1].split('|')[0])) counts.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
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

/**
 * The store round trips of each step of `run`: the read events Redis processes between the steps,
 * less each INFO's own (the count an INFO reports includes its own read).
 */
async function roundTripsBySteps(admin: Redis, run: (after: After) => Promise<unknown>): Promise<Array<[string, number]>> {
  const steps: Array<[string, number]> = [];
  let last = await readsProcessed(admin);
  await run(async (step) => {
    const now = await readsProcessed(admin);
    steps.push([step, now - last - 1]);
    last = now;
  });
  return steps;
}

/** The commands one flow sends, in order, with each key shown as its record kind (MONITOR; a script by its first key). */
async function monitorOneFlow(admin: Redis, run: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const monitor = await admin.monitor();
  monitor.on('monitor', (_time: string, argv: string[], source: string) => {
    // What scripts run inside Redis is not what the gateway sends.
    if (source === 'lua') return;
    const [command] = argv;
    // EVAL/EVALSHA name their keys after the script and the key count.
    const keyAt = /^eval/i.test(command) ? 3 : 1;
    const key = argv[keyAt];
    if (!key?.startsWith(KEY_PREFIX)) return;
    const kind = key.slice(KEY_PREFIX.length).split(':')[0];
    const flags = argv.slice(keyAt + 2).filter((a) => /^(NX|PX)$/i.test(a)).join(' ');
    seen.push(`${command.toUpperCase()}${keyAt === 3 ? `(${argv[2]} keys)` : ''} ${kind}${flags ? ' ' + flags.toUpperCase() : ''}`);
  });
  await run();
  await new Promise((r) => setTimeout(r, 200)); // MONITOR lines trail the replies
  monitor.disconnect();
  return seen;
}

interface Measured extends TimedRun {
  flow: FlowKind;
  store: StoreName;
  redisCpuMs?: number;
  commandsPerFlow?: number;
  commands?: Map<string, { calls: number; usec: number }>;
}

interface Observed {
  trace?: string[];
  steps?: Array<[string, number]>;
}

/** One store's gateway, its browsers logged in and warmed up, ready for timed slices. */
interface StoreRun {
  store: StoreName;
  target: FlowTarget;
  browsers: CookieJar[];
  slices: Measured[];
}

async function openStore(pki: BenchPki, setup: FlowSetup, store: StoreName, redisServer: RedisServer | undefined): Promise<StoreRun> {
  const storeConfig = store === 'redis' ? { type: 'redis', url: redisServer!.url, keyPrefix: KEY_PREFIX } : { type: 'memory' };
  const target = await gatewayTarget(pki, { ...gatewayRun(args), alg: setup.alg, concurrency, store: storeConfig, ...setup.start });
  try {
    // One browser per concurrent flow, each logged in once through an untimed flow.
    const material = (n: number) => setup.material(target.audience, n);
    const browsers = (await logInBrowsers(target, pki, concurrency, false, material)).map((l) => l.browser);
    const warm = await material(warmup);
    printFailures(`${setup.kind} ${store} warm-up`, await runBounded({ count: warmup, concurrency, maxMs, task: (i, worker) => target.flow(warm[i], browsers[worker]) }));
    return { store, target, browsers, slices: [] };
  } catch (err) {
    await target.close();
    throw err;
  }
}

/** `count` timed flows on one store's gateway (their assertions signed just before: they live 280 s). */
async function timedSlice(setup: FlowSetup, s: StoreRun, count: number, boundMs: number, admin: Redis | undefined): Promise<Measured> {
  const prepared = await setup.material(s.target.audience, count);
  if (admin) await admin.config('RESETSTAT');
  const redisBefore = admin ? await redisCpuMs(admin) : 0;
  const timed = await timedRun(s.target.server, { count, concurrency, maxMs: boundMs, task: (i, worker) => s.target.flow(prepared[i], s.browsers[worker]) });
  const result: Measured = { flow: setup.kind, store: s.store, ...timed };
  if (admin) {
    result.redisCpuMs = (await redisCpuMs(admin)) - redisBefore;
    result.commands = await commandCounts(admin);
    result.commandsPerFlow = [...result.commands.values()].reduce((a, b) => a + b.calls, 0) / timed.run.attempted;
  }
  return result;
}

/**
 * One round: a gateway per store, both running, the timed flows in `slices` turns that alternate
 * between them (the first store swapping every slice and every round), so that a change in the
 * machine's speed falls on both alike. Returns each store's slices; with Redis, also one flow's
 * commands and round trips, observed once the timed slices are done.
 */
async function measureRound(pki: BenchPki, setup: FlowSetup, round: number, redisServer: RedisServer | undefined, admin: Redis | undefined, observe: boolean): Promise<{ runs: StoreRun[]; observed: Observed }> {
  const runs: StoreRun[] = [];
  try {
    for (const store of stores) runs.push(await openStore(pki, setup, store, redisServer));
    const perSlice = Math.ceil(flows / slices);
    for (let slice = 0; slice < slices; slice++) {
      for (let k = 0; k < runs.length; k++) {
        const s = runs[(slice + round + k) % runs.length];
        const spentMs = s.slices.reduce((sum, m) => sum + m.run.elapsedMs, 0);
        if (spentMs >= maxMs) continue;
        // --max-seconds bounds a store's timed flows of the round, all slices together.
        s.slices.push(await timedSlice(setup, s, perSlice, maxMs - spentMs, s.store === 'redis' ? admin : undefined));
      }
    }
    const observed: Observed = {};
    const redis = runs.find((s) => s.store === 'redis');
    if (observe && redis && admin) {
      const [one, two] = await setup.material(redis.target.audience, 2);
      observed.steps = await roundTripsBySteps(admin, (after) => redis.target.flow(two, redis.browsers[0], after));
      observed.trace = await monitorOneFlow(admin, () => redis.target.flow(one, redis.browsers[0]));
    }
    for (const s of runs) {
      const run = mergeRuns(s.slices.map((m) => m.run));
      printFailures(`${setup.kind} ${s.store}`, run);
      if (run.failures.size > 0) console.log(`  last lines the gateway printed:\n${s.target.server.output().split('\n').slice(-10).join('\n')}`);
      if (run.timedOut || run.elapsedMs >= maxMs) console.log(`  ${s.store}: stopped by the ${maxMs / 1000} s bound after ${run.attempted} flows`);
    }
    return { runs, observed };
  } finally {
    await Promise.all(runs.map((s) => s.target.close()));
  }
}

/** A store's slices of one round as one measurement: flows, CPU and commands added up. */
function mergeSlices(slices: readonly Measured[]): Measured {
  const [first] = slices;
  const merged: Measured = {
    flow: first.flow,
    store: first.store,
    run: mergeRuns(slices.map((m) => m.run)),
    serverCpuMs: slices.reduce((a, m) => a + m.serverCpuMs, 0),
    benchCpuMs: slices.reduce((a, m) => a + m.benchCpuMs, 0),
  };
  if (first.commands) {
    merged.redisCpuMs = slices.reduce((a, m) => a + (m.redisCpuMs ?? 0), 0);
    merged.commands = new Map();
    for (const m of slices)
      for (const [name, c] of m.commands!) {
        const sum = merged.commands.get(name) ?? { calls: 0, usec: 0 };
        merged.commands.set(name, { calls: sum.calls + c.calls, usec: sum.usec + c.usec });
      }
    merged.commandsPerFlow = [...merged.commands.values()].reduce((a, b) => a + b.calls, 0) / merged.run.attempted;
  }
  return merged;
}

const flowsPerSecond = (m: Measured) => perSecond(m.run);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
// On a busy machine throughput swings with the neighbours; CPU per flow is steadier. When everything
// shares the same cores, flows/s goes as 1 / (all CPU per flow), so this ratio is what an idle
// machine of this size would show.
const cpuPerFlow = (m: Measured) => (m.serverCpuMs + (m.redisCpuMs ?? 0) + m.benchCpuMs) / m.run.attempted;

interface FlowSummary {
  kind: FlowKind;
  memory: number;
  redis: number;
  paired?: number;
  cpuRatio?: number;
  commandsPerFlow?: number;
  /** The commands one flow sends (MONITOR), scripts counted once. */
  sent?: number;
  steps?: Array<[string, number]>;
}

/** Prints one flow's table and ratios; returns its summary line. */
function report(setup: FlowSetup, rounds: StoreRun[][], observed: Observed): FlowSummary {
  // The table: each store's slices of a round as one line.
  const results = rounds.flatMap((runs) => runs.map((s) => mergeSlices(s.slices)));
  console.log(`\n${setup.kind}: ${setup.description}`);
  printTable(
    ['flow', 'store', 'flows', 'failed', 'flows/s', 'p50 ms', 'p99 ms', 'gateway CPU ms/flow', 'redis CPU ms/flow', 'bench CPU ms/flow', 'redis commands/flow'],
    results.map((m) => [
      m.flow,
      m.store,
      ...runColumns(m.run, 1),
      fixed(m.serverCpuMs / m.run.attempted, 2),
      m.redisCpuMs === undefined ? '-' : fixed(m.redisCpuMs / m.run.attempted, 2),
      fixed(m.benchCpuMs / m.run.attempted, 2),
      m.commandsPerFlow === undefined ? '-' : fixed(m.commandsPerFlow, 1),
    ]),
  );
  const ofStore = (store: StoreName) => results.filter((m) => m.store === store);
  const summary: FlowSummary = { kind: setup.kind, memory: median(ofStore('memory').map(flowsPerSecond)), redis: median(ofStore('redis').map(flowsPerSecond)) };
  if (stores.length === 2) {
    // Each Redis slice against the memory slice next to it in time, round by round.
    const paired = rounds.flatMap((runs) => {
      const [memory, redis] = ['memory', 'redis'].map((store) => runs.find((s) => s.store === store)!.slices);
      return redis.slice(0, memory.length).map((r, i) => flowsPerSecond(r) / flowsPerSecond(memory[i]));
    });
    summary.paired = median(paired);
    summary.cpuRatio = median(ofStore('memory').map(cpuPerFlow)) / median(ofStore('redis').map(cpuPerFlow));
    console.log(`flows/s${rounds.length > 1 ? ' (median of the rounds)' : ''}: memory ${fixed(summary.memory, 1)}, redis ${fixed(summary.redis, 1)}; ratio of the medians ${fixed((summary.redis / summary.memory) * 100, 1)}%`);
    console.log(
      `redis/memory, slice by slice (${paired.length}, sorted): ${[...paired].sort((a, b) => a - b).map((r) => fixed(r * 100, 0)).join(' ')}; median ${fixed(summary.paired * 100, 1)}% (target ≥ ${TARGET_RATIO * 100}%: ${summary.paired >= TARGET_RATIO ? 'met' : 'NOT met'})`,
    );
    console.log(`CPU ms per flow, gateway + redis-server + bench: memory ${fixed(median(ofStore('memory').map(cpuPerFlow)))}, redis ${fixed(median(ofStore('redis').map(cpuPerFlow)))}; CPU-bound ratio memory/redis = ${fixed(summary.cpuRatio * 100, 1)}%`);
  }
  const last = ofStore('redis').at(-1);
  if (last?.commands) {
    summary.commandsPerFlow = last.commandsPerFlow;
    const perFlow = [...last.commands].sort((a, b) => b[1].calls - a[1].calls).map(([c, { calls }]) => `${c} ${fixed(calls / last.run.attempted, 1)}`);
    console.log(`Redis commands per flow (timed window, those scripts run included): ${perFlow.join(', ')}`);
    const usPerFlow = [...last.commands].sort((a, b) => b[1].usec - a[1].usec).map(([c, { usec }]) => `${c} ${fixed(usec / last.run.attempted, 1)}`);
    console.log(`Redis µs per flow in commands (a script's own commands counted in its EVALSHA too; the rest of redis CPU is I/O): ${usPerFlow.join(', ')}`);
  }
  if (observed.trace) {
    summary.sent = observed.trace.length;
    console.log(`One flow, command by command as sent (${observed.trace.length}): ${observed.trace.join(' → ')}`);
  }
  if (observed.steps) {
    summary.steps = observed.steps;
    console.log(`One flow alone: ${observed.steps.reduce((a, [, n]) => a + n, 0)} store round trips (${observed.steps.map(([step, n]) => `${step} ${n}`).join(', ')})`);
  }
  return summary;
}

const pki = await benchPki();
let redisServer: RedisServer | undefined;
let admin: Redis | undefined;
const summaries: FlowSummary[] = [];
let failed = false;
try {
  if (stores.includes('redis')) {
    redisServer = await startRedisServer();
    admin = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
  }
  const version = admin ? /^redis_version:(.*)$/m.exec(await admin.info('server'))?.[1]?.trim() : undefined;
  console.log(
    `${flows} flows per store and flow kind (${kinds.join(', ')}) at concurrency ${concurrency} (warm-up ${warmup}, ${rounds} round${rounds > 1 ? 's' : ''}), tokens signed ${alg} (brazil: PS256), ${gatewaySource(args)}${version ? `; redis-server ${version} on ${redisServer!.url}` : ''}`,
  );
  for (const kind of kinds) {
    const setup = await flowSetup(kind, pki, alg);
    const measured: StoreRun[][] = [];
    let observed: Observed = {};
    for (let round = 1; round <= rounds; round++) {
      const done = await measureRound(pki, setup, round, redisServer, admin, round === 1);
      measured.push(done.runs);
      if (round === 1) observed = done.observed;
      for (const s of done.runs) failed ||= s.slices.some((m) => m.run.failures.size > 0);
      console.log(`  ${setup.kind} round ${round}: ${done.runs.map((s) => `${s.store} ${fixed(perSecond(mergeRuns(s.slices.map((m) => m.run))), 1)} flows/s`).join(', ')}`);
    }
    summaries.push(report(setup, measured, observed));
  }
} finally {
  admin?.disconnect();
  await redisServer?.stop();
  await pki.remove();
}

if (summaries.length > 1 || stores.length === 2) {
  console.log();
  printTable(
    ['flow', 'memory flows/s', 'redis flows/s', 'redis/memory (median of the slices)', 'CPU-bound ratio', 'redis commands/flow', 'commands sent', 'round trips alone', 'by step'],
    summaries.map((s) => [
      s.kind,
      fixed(s.memory, 1),
      fixed(s.redis, 1),
      s.paired === undefined ? '-' : `${fixed(s.paired * 100, 1)}%`,
      s.cpuRatio === undefined ? '-' : `${fixed(s.cpuRatio * 100, 1)}%`,
      s.commandsPerFlow === undefined ? '-' : fixed(s.commandsPerFlow, 1),
      s.sent ?? '-',
      s.steps ? s.steps.reduce((a, [, n]) => a + n, 0) : '-',
      s.steps ? s.steps.map(([step, n]) => `${step} ${n}`).join(', ') : '-',
    ]),
  );
}
if (failed) process.exitCode = 1;
