/**
 * PAR throughput of fapi-gateway and node-oidc-provider side by side: client-one pushes
 * authorization requests over mutual TLS, authenticated by pre-signed private_key_jwt assertions.
 * Each server runs in a child process so its CPU time is read from /proc on its own; at each
 * concurrency level the servers take turns in slices (`--slices`, the first one rotating), so all see
 * the same machine. With `--registered N`
 * (fapi-gateway only), N clients are first registered (RFC 7591, an initial access token) and the
 * requests come from them in turn instead of client-one. See bench/README.md.
 */
import { createHash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { boundMs, GATEWAY_OPTIONS, gatewayRun, gatewaySource } from './lib/args.js';
import { startGateway } from './lib/gateway.js';
import { startOidcProvider } from './lib/oidc-provider.js';
import { spawnServer, type ServerProcess } from './lib/server-process.js';
import { freePort } from '../test/helpers/ports.js';
import { expectStatus, httpsPool, send } from './lib/http.js';
import { parBody, pkce, presignAssertions, REDIRECT_URI, SCOPE } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, mergeRuns, pairedRatios, printFailures, printTable, runBounded, runColumns, timedRun, type RunResult } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '1,16' },
    warmup: { type: 'string', default: '500' },
    /** The timed requests of each level in this many slices, the servers taking turns slice by slice. */
    slices: { type: 'string', default: '5' },
    'max-seconds': { type: 'string', default: '120' },
    registered: { type: 'string', default: '0' },
    /** How many of the registered clients send (default: all, in turn). */
    senders: { type: 'string' },
    targets: { type: 'string', default: 'fapi-gateway,oidc-provider' },
    /** Flags for oidc-provider's `node` (default none), e.g. the gateway's own to compare like with like. */
    'oidc-provider-node-args': { type: 'string', default: '' },
    ...GATEWAY_OPTIONS,
  },
});
const count = Number(args.count);
const levels = args.concurrency.split(',').map(Number);
const warmup = Number(args.warmup);
const maxMs = boundMs(args['max-seconds'], 240);

const registered = Number(args.registered);
const targets = args.targets.split(',');
for (const t of targets) if (t !== 'fapi-gateway' && t !== 'oidc-provider' && t !== 'floor') throw new Error(`unknown target ${t}`);
if (registered > 0 && targets.includes('oidc-provider')) throw new Error('--registered needs --targets fapi-gateway');
const initialAccessToken = randomUUID();

const pki = await benchPki();
const registration = {
  enabled: true,
  initialAccessTokenSha256: [createHash('sha256').update(initialAccessToken).digest('hex')],
  maxClients: Math.max(registered, 1),
  rateLimit: { perIpPerMinute: 1_000_000, perMinute: 1_000_000 },
};
const gateway = await startGateway(pki, { ...gatewayRun(args), alg: 'ES256', ...(registered > 0 ? { config: { registration } } : {}) });
console.log(`fapi-gateway (${gatewaySource(args)}) pid ${gateway.server.pid}; PAR at ${gateway.mtlsBase}/par; ${count} requests per level, warm-up ${warmup}`);
const op = targets.includes('oidc-provider') ? await startOidcProvider(pki, { alg: 'ES256', sub: 'alice-7f3c', cpuProfDir: gatewayRun(args).cpuProfDir, nodeArgs: args['oidc-provider-node-args'].split(/\s+/).filter(Boolean) }) : undefined;
if (op) console.log(`oidc-provider pid ${op.server.pid}; PAR at ${op.issuer}/par; node ${args['oidc-provider-node-args'] || 'without flags'}`);
const floor = targets.includes('floor') ? await startFloor() : undefined;
if (floor) console.log(`floor (bench/par-floor-server.ts) pid ${floor.server.pid}; PAR at ${floor.base}/par`);
/** Each server under test: where PAR goes, the `aud` of its client assertions, its process. */
const servers = targets.map((name) =>
  name === 'fapi-gateway'
    ? { name, base: gateway.mtlsBase, audience: gateway.issuer, server: gateway.server }
    : name === 'floor'
      ? { name, base: floor!.base, audience: floor!.base, server: floor!.server }
      : { name, base: op!.issuer, audience: op!.issuer, server: op!.server },
);

/** The bare node:https PAR of bench/par-floor-server.ts: TLS, the form and one ES256 check, nothing else. */
async function startFloor(): Promise<{ base: string; server: ServerProcess }> {
  const port = await freePort();
  const { serverCert, serverKey, ca } = pki.pki;
  const server = await spawnServer({
    name: 'floor',
    nodeArgs: ['--import', 'tsx', 'bench/par-floor-server.ts', serverCert, serverKey, ca, JSON.stringify(pki.clientOne.publicJwk), String(port)],
    ready: async (output) => output.includes('listening on'),
  });
  return { base: `https://localhost:${port}`, server };
}
const clientIds = registered > 0 ? await registerClients(registered) : ['client-one'];
const senders = Math.min(Number(args.senders ?? clientIds.length), clientIds.length);
const clientOf = (i: number) => clientIds[i % senders];
if (registered > 0) console.log(`${registered} clients registered in the store; requests come from ${senders} of them in turn`);

async function registerClients(n: number): Promise<string[]> {
  const pool = httpsPool(gateway.mtlsBase, { ca: pki.ca, client: pki.clientOne, connections: 8 });
  const metadata = JSON.stringify({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pki.clientOne.publicJwk] }, redirect_uris: [REDIRECT_URI], scope: SCOPE });
  const ids: string[] = new Array(n);
  const run = await runBounded({
    count: n,
    concurrency: 8,
    maxMs,
    task: async (i) => {
      const res = await pool.request({ method: 'POST', path: '/register', body: metadata, headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` } });
      const reply = { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      expectStatus(reply, 201, 'registration');
      ids[i] = JSON.parse(reply.text).client_id;
    },
  });
  await pool.close();
  printFailures('registration', run);
  if (ids.some((id) => id === undefined)) throw new Error('not every client could be registered');
  return ids;
}

const rows: (string | number)[][] = [];
/** Server CPU ms per PAR by concurrency level and server, for the ratio line. */
const cpuPerPar = new Map<number, Map<string, number>>();
/** The same, slice by slice (a slice of each server in turn), for the median of the paired ratios. */
const cpuPerParBySlice = new Map<number, Map<string, number[]>>();
const slices = Math.max(1, Number(args.slices));
try {
  for (const concurrency of levels) {
    const sessions = servers.map((target) => ({
      target,
      label: `${target.name} c=${concurrency}`,
      pool: httpsPool(target.base, { ca: pki.ca, client: pki.clientOne, connections: concurrency }),
      runs: [] as RunResult[],
      serverCpuMs: 0,
      benchCpuMs: 0,
      bySlice: [] as number[],
    }));
    type Session = (typeof sessions)[number];
    const bodies = async (s: Session, n: number) =>
      (await presignAssertions(pki.clientOne.jwk, s.target.audience, n, 280, clientOf)).map((a, i) => parBody(a, pkce().challenge, clientOf(i)));
    const push = (s: Session, body: string) => async () => {
      expectStatus(await send(s.pool, { method: 'POST', path: '/par', form: body }), 201, 'PAR');
    };
    try {
      // Every registered client is read into the cache before the timed window, as in a steady state.
      const warmCount = Math.max(warmup, registered);
      for (const s of sessions) {
        const warm = await bodies(s, warmCount);
        printFailures(`warm-up ${s.label}`, await runBounded({ count: warmCount, concurrency, maxMs, task: (i) => push(s, warm[i])() }));
      }
      // The timed requests in slices, each server in turn and the first one rotating, so that a change
      // in the machine's background load falls on all of them alike; CPU is read around each slice.
      const perSlice = Math.ceil(count / slices);
      for (let slice = 0; slice < slices; slice++) {
        for (let k = 0; k < sessions.length; k++) {
          const s = sessions[(slice + k) % sessions.length];
          const timed = await bodies(s, perSlice);
          const { run, serverCpuMs, benchCpuMs } = await timedRun(s.target.server, { count: perSlice, concurrency, maxMs, task: (i) => push(s, timed[i])() });
          s.runs.push(run);
          s.serverCpuMs += serverCpuMs;
          s.benchCpuMs += benchCpuMs;
          s.bySlice.push(serverCpuMs / run.attempted);
        }
      }
    } finally {
      await Promise.all(sessions.map((s) => s.pool.close()));
    }
    for (const s of sessions) {
      const run = mergeRuns(s.runs);
      printFailures(s.label, run);
      if (run.timedOut) console.log(`  ${s.label}: stopped by the ${maxMs / 1000} s bound in a slice, after ${run.attempted} requests in all`);
      cpuPerPar.set(concurrency, (cpuPerPar.get(concurrency) ?? new Map()).set(s.target.name, s.serverCpuMs / run.attempted));
      cpuPerParBySlice.set(concurrency, (cpuPerParBySlice.get(concurrency) ?? new Map()).set(s.target.name, s.bySlice));
      rows.push([s.label, ...runColumns(run, 0), fixed(s.serverCpuMs / run.attempted, 3), fixed(s.benchCpuMs / run.attempted, 3)]);
    }
  }
} finally {
  await Promise.all([gateway.server.stop(), op?.server.stop(), floor?.server.stop()]);
  await pki.remove();
}

console.log();
printTable(['PAR', 'requests', 'non-201', 'req/s', 'p50 ms', 'p99 ms', 'server CPU ms/req', 'bench CPU ms/req'], rows);
if (op) {
  const ratio = (byServer: Map<string, number>, name: string) => (byServer.has(name) ? fixed(byServer.get(name)! / byServer.get('oidc-provider')!, 2) : '-');
  // Each slice's ratio to oidc-provider's slice that ran next to it.
  const pairedMedian = (c: number, name: string) => {
    const bySlice = cpuPerParBySlice.get(c)!;
    const own = bySlice.get(name);
    return own ? pairedRatios(own, bySlice.get('oidc-provider')!) : '-';
  };
  const ratios = [...cpuPerPar].map(([c, byServer]) => [
    `c=${c}`,
    ratio(byServer, 'fapi-gateway'),
    pairedMedian(c, 'fapi-gateway'),
    ...(floor ? [ratio(byServer, 'floor'), pairedMedian(c, 'floor')] : []),
  ]);
  console.log();
  printTable(
    ['server CPU per PAR', 'fapi-gateway / oidc-provider', 'median of the slices (each slice)', ...(floor ? ['floor / oidc-provider', 'median of the slices (each slice)'] : [])],
    ratios,
  );
}
if (args['cpu-prof']) console.log(`\nCPU profile of the gateway written to ${args['cpu-prof']} (summarise: node --import tsx bench/cpu-profile-top.ts FILE)`);
