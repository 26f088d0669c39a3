/**
 * Complete flows per second with the memory store and with Redis, in one run: PAR → authorization
 * with a reused login session (consent every time) → token, the same load against the same build,
 * once per store. The gateway runs from dist/ in a child process; Redis is a redis-server started
 * here on loopback (no persistence) and stopped at the end. Also counts the store round trips per
 * flow (Redis INFO commandstats over the timed window) and lists one flow's commands (MONITOR).
 * Client assertions are pre-signed; one logged-in browser per concurrent flow, as in bench/flow.ts.
 *
 *   npm run bench:redis -- --flows 1000 --concurrency 8 --warmup 200 --rounds 3
 *   npm run bench:redis -- --stores redis --gateway-root /tmp/other-build   # one store, another build
 *
 * On a shared machine flows/s moves with the neighbours: use --rounds (memory and Redis alternate,
 * the medians are compared) and read the CPU ms per flow, the steadier figure.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { Pool } from 'undici';
import { stringify } from 'yaml';
import { DEMO_USER } from '../src/config/embedded.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { REPO_ROOT, type Runtime, type SigningAlg } from './lib/gateway.js';
import { CookieJar, expectStatus, header, httpsPool, send, type Reply } from './lib/http.js';
import { checkTokenResponse, CLIENT_ID, codeFrom, flowMaterial, tokenBody, type FlowMaterial } from './lib/oauth-client.js';
import { benchPki, type BenchPki } from './lib/pki.js';
import { freePort } from './lib/ports.js';
import { httpOk, spawnServer, type ServerProcess } from './lib/server-process.js';
import { fixed, percentile, printFailures, printTable, runBounded, type RunResult } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '1' },
    'max-seconds': { type: 'string', default: '120' },
    runtime: { type: 'string', default: 'dist' },
    'gateway-root': { type: 'string' },
    stores: { type: 'string', default: 'memory,redis' },
    alg: { type: 'string', default: 'ES256' },
    'cpu-prof': { type: 'string' },
  },
});
const flows = Number(args.flows);
const concurrency = Number(args.concurrency);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
const maxMs = Math.min(Number(args['max-seconds']), 240) * 1000;
const alg = args.alg as SigningAlg;
const runtime = args.runtime as Runtime;
if (alg !== 'ES256' && alg !== 'PS256') throw new Error('--alg must be ES256 or PS256');
const root = args['gateway-root'] ? path.resolve(args['gateway-root']) : REPO_ROOT;
const stores = args.stores.split(',') as StoreName[];
for (const store of stores) if (store !== 'memory' && store !== 'redis') throw new Error(`unknown store ${store}`);
const TARGET_RATIO = 0.8;
const KEY_PREFIX = 'fapi-gateway-bench:';

type StoreName = 'memory' | 'redis';

interface Gateway {
  server: ServerProcess;
  issuer: string;
  mtlsBase: string;
}

/**
 * bench/lib/gateway.ts's startGateway with the store chosen: the same embedded config (loopback
 * ports, bench PKI, `keys.active` for --alg, log level warn), plus `store`.
 */
async function startGatewayWithStore(pki: BenchPki, store: Record<string, unknown>): Promise<Gateway> {
  const dist = runtime === 'dist';
  if (dist && !existsSync(path.join(root, 'dist/main.js'))) throw new Error(`${path.join(root, 'dist/main.js')} is missing: run \`npm run build\` first (or pass --runtime tsx)`);
  const embedded = path.join(root, dist ? 'dist/config/embedded.js' : 'src/config/embedded.ts');
  const { embeddedConfig } = (await import(pathToFileURL(embedded).href)) as typeof import('../src/config/embedded.js');
  const [pub, mtls, ops] = [await freePort(), await freePort(), await freePort()];
  const config = await embeddedConfig(pki.pki);
  config.issuer = `https://localhost:${pub}`;
  config.listeners = {
    public: { host: '127.0.0.1', port: pub },
    mtls: { host: '127.0.0.1', port: mtls, url: `https://localhost:${mtls}` },
    ops: { host: '127.0.0.1', port: ops },
  };
  config.log = { level: 'warn' };
  config.keys = { signing: pki.pki.signingKeys, active: [`dev-${alg.toLowerCase()}-1`] };
  config.store = store;
  const configFile = path.join(pki.dir, `gateway-${store.type}.yaml`);
  await writeFile(configFile, stringify(config));
  const profiling = args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args['cpu-prof'])] : [];
  const server = await spawnServer({
    name: `fapi-gateway (${store.type})`,
    nodeArgs: [...profiling, ...(dist ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts']), '--config', configFile],
    cwd: root,
    env: { NODE_ENV: 'production', FAPI_GATEWAY_LOG_LEVEL: 'warn' },
    ready: () => httpOk(`http://127.0.0.1:${ops}/readyz`),
  });
  return { server, issuer: config.issuer as string, mtlsBase: `https://localhost:${mtls}` };
}

/** The fapi-gateway flow of bench/lib/flow-targets.ts: PAR, GET /authorize (consent page), POST consent, token. */
function flowDriver(gateway: Gateway, pki: BenchPki) {
  const mtls = httpsPool(gateway.mtlsBase, { ca: pki.ca, client: pki.clientOne, connections: concurrency });
  const browser = httpsPool(gateway.issuer, { ca: pki.ca, connections: concurrency });
  const browse = async (pool: Pool, jar: CookieJar, request: { method: 'GET' | 'POST'; path: string; form?: string }): Promise<Reply> => {
    const reply = await send(pool, { ...request, cookie: jar.header(request.path) });
    jar.take(reply);
    return reply;
  };
  const pageForm = (page: string) => {
    const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!action || !csrf) throw new Error(`authorize: no form on the page: ${page.slice(0, 160)}`);
    return { action: action.replace(/&amp;/g, '&'), csrf, login: page.includes('name="password"') };
  };
  const flow = async (material: FlowMaterial, jar: CookieJar, mayLogIn = false): Promise<void> => {
    const par = expectStatus(await send(mtls, { method: 'POST', path: '/par', form: material.parBody }), 201, 'PAR');
    const requestUri = (JSON.parse(par.text) as { request_uri: string }).request_uri;
    const authorizePath = `/authorize?client_id=${CLIENT_ID}&request_uri=${encodeURIComponent(requestUri)}`;
    let page = expectStatus(await browse(browser, jar, { method: 'GET', path: authorizePath }), 200, 'authorize');
    let form = pageForm(page.text);
    if (form.login) {
      if (!mayLogIn) throw new Error('authorize: the login page was shown although the session cookie was sent');
      const body = new URLSearchParams({ csrf: form.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }).toString();
      const login = expectStatus(await browse(browser, jar, { method: 'POST', path: form.action, form: body }), 303, 'login');
      page = expectStatus(await browse(browser, jar, { method: 'GET', path: header(login, 'location')! }), 200, 'consent page');
      form = pageForm(page.text);
    }
    const body = new URLSearchParams({ csrf: form.csrf, decision: 'approve' }).toString();
    const done = expectStatus(await browse(browser, jar, { method: 'POST', path: form.action, form: body }), 303, 'consent');
    const code = codeFrom(header(done, 'location'));
    const token = expectStatus(await send(mtls, { method: 'POST', path: '/token', form: tokenBody(material.tokenAssertion, code, material.verifier) }), 200, 'token');
    checkTokenResponse(token.text);
  };
  return { flow, close: () => Promise.all([mtls.close(), browser.close()]) };
}

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

/** The commands one flow sends, in order, with each key shown as its record kind (MONITOR). */
async function monitorOneFlow(admin: Redis, run: () => Promise<void>): Promise<string[]> {
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

interface Measured {
  store: StoreName;
  run: RunResult;
  serverCpuMs: number;
  /** This process's CPU (the load generator). */
  benchCpuMs: number;
  redisCpuMs?: number;
  commandsPerFlow?: number;
  commands?: Map<string, number>;
}

async function measure(pki: BenchPki, store: StoreName, redisServer: RedisServer | undefined, admin: Redis | undefined): Promise<{ result: Measured; trace?: string[] }> {
  const gateway = await startGatewayWithStore(pki, store === 'redis' ? { type: 'redis', url: redisServer!.url, keyPrefix: KEY_PREFIX } : { type: 'memory' });
  const driver = flowDriver(gateway, pki);
  try {
    // One browser per concurrent flow, each logged in once through an untimed flow.
    const browsers: CookieJar[] = [];
    for (const material of await flowMaterial(pki.clientOne.jwk, gateway.issuer, concurrency)) {
      const jar = new CookieJar();
      await driver.flow(material, jar, true);
      browsers.push(jar);
    }
    const task = (material: FlowMaterial[]) => (i: number, worker: number) => driver.flow(material[i], browsers[worker]);
    const warm = await flowMaterial(pki.clientOne.jwk, gateway.issuer, warmup);
    printFailures(`${store} warm-up`, await runBounded({ count: warmup, concurrency, maxMs, task: task(warm) }));

    const material = await flowMaterial(pki.clientOne.jwk, gateway.issuer, flows);
    if (admin) await admin.config('RESETSTAT');
    const redisBefore = admin ? await redisCpuMs(admin) : 0;
    const cpuBefore = gateway.server.cpuMs();
    const benchBefore = process.cpuUsage();
    const run = await runBounded({ count: flows, concurrency, maxMs, task: task(material) });
    const serverCpuMs = gateway.server.cpuMs() - cpuBefore;
    const bench = process.cpuUsage(benchBefore);
    const result: Measured = { store, run, serverCpuMs, benchCpuMs: (bench.user + bench.system) / 1000 };
    if (admin) {
      result.redisCpuMs = (await redisCpuMs(admin)) - redisBefore;
      result.commands = await commandCounts(admin);
      result.commandsPerFlow = [...result.commands.values()].reduce((a, b) => a + b, 0) / run.attempted;
    }
    printFailures(store, run);
    if (run.failures.size > 0) console.log(`  last lines the gateway printed:\n${gateway.server.output().split('\n').slice(-10).join('\n')}`);
    if (run.timedOut) console.log(`  stopped by the ${maxMs / 1000} s bound after ${run.attempted} flows`);
    let trace: string[] | undefined;
    if (admin) {
      const [one] = await flowMaterial(pki.clientOne.jwk, gateway.issuer, 1);
      trace = await monitorOneFlow(admin, () => driver.flow(one, browsers[0]));
    }
    return { result, trace };
  } finally {
    await driver.close();
    await gateway.server.stop();
  }
}

const pki = await benchPki();
let redisServer: RedisServer | undefined;
let admin: Redis | undefined;
const results: Measured[] = [];
let trace: string[] | undefined;
try {
  redisServer = await startRedisServer();
  admin = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  const version = /^redis_version:(.*)$/m.exec(await admin.info('server'))?.[1]?.trim();
  console.log(
    `${flows} flows per store at concurrency ${concurrency} (warm-up ${warmup}, ${rounds} round${rounds > 1 ? 's' : ''}), tokens signed ${alg}, gateway from ${args['gateway-root'] ?? '.'}/${runtime === 'dist' ? 'dist' : 'src (tsx)'}; redis-server ${version} on ${redisServer.url}`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const store of stores) {
      const measured = await measure(pki, store, redisServer, store === 'redis' ? admin : undefined);
      results.push(measured.result);
      trace ??= measured.trace;
      const r = measured.result.run;
      console.log(`  round ${round} ${store}: ${fixed(r.attempted / (r.elapsedMs / 1000), 1)} flows/s`);
    }
  }
} finally {
  admin?.disconnect();
  await redisServer?.stop();
  await pki.remove();
}

const flowsPerSecond = (m: Measured) => m.run.attempted / (m.run.elapsedMs / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log();
printTable(
  ['store', 'flows', 'failed', 'flows/s', 'p50 ms', 'p99 ms', 'gateway CPU ms/flow', 'redis CPU ms/flow', 'bench CPU ms/flow', 'store round trips/flow'],
  results.map((m) => [
    m.store,
    m.run.attempted,
    m.run.attempted - m.run.succeeded,
    fixed(flowsPerSecond(m), 1),
    fixed(percentile(m.run.latenciesMs, 50)),
    fixed(percentile(m.run.latenciesMs, 99)),
    fixed(m.serverCpuMs / m.run.attempted, 2),
    m.redisCpuMs === undefined ? '-' : fixed(m.redisCpuMs / m.run.attempted, 2),
    fixed(m.benchCpuMs / m.run.attempted, 2),
    m.commandsPerFlow === undefined ? '-' : fixed(m.commandsPerFlow, 1),
  ]),
);
const memory = median(results.filter((m) => m.store === 'memory').map(flowsPerSecond));
const redis = median(results.filter((m) => m.store === 'redis').map(flowsPerSecond));
const ratio = redis / memory;
if (stores.length === 2) console.log(`\nflows/s${rounds > 1 ? ' (median of the rounds)' : ''}: memory ${fixed(memory, 1)}, redis ${fixed(redis, 1)}; redis/memory = ${fixed(ratio * 100, 1)}% (target ≥ ${TARGET_RATIO * 100}%: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'})`);
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
if (results.some((m) => m.run.failures.size > 0)) process.exitCode = 1;
