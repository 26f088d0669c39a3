/**
 * The complete authorization code flow, fapi-gateway and node-oidc-provider side by side:
 * PAR → authorization with a reused login session (consent every time) → token. Each server runs
 * in its own child process, so each one's CPU time is read on its own; all run at once and their
 * timed flows are interleaved in slices (`--slices`, the first server rotating), so a change in the
 * machine's background load falls on all of them alike. See bench/README.md.
 */
import { parseArgs } from 'node:util';
import { FLOW_OPTIONS, flowSettings, gatewayRun, gatewaySource } from './lib/args.js';
import { gatewayTarget, logInBrowsers, oidcProviderTarget, type FlowTarget } from './lib/flow-targets.js';
import { flowMaterial, type FlowMaterial } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, mergeRuns, pairedRatios, printFailures, printTable, runBounded, runColumns, timedRun, type RunResult } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    ...FLOW_OPTIONS,
    targets: { type: 'string', default: 'fapi-gateway,oidc-provider' },
    /** The timed flows of each server in this many slices, the servers taking turns slice by slice. */
    slices: { type: 'string', default: '5' },
    /** Flags for oidc-provider's `node` (default none), e.g. the gateway's own to compare like with like. */
    'oidc-provider-node-args': { type: 'string', default: '' },
  },
});
const { flows, concurrency, warmup, maxMs, alg } = flowSettings(args);
const starters = {
  'fapi-gateway': gatewayTarget,
  // The same flow with a signed request object at PAR and a JARM response (the fapi2-message-signing profile).
  'fapi-gateway-signed': (pki: Parameters<typeof gatewayTarget>[0], options: Parameters<typeof gatewayTarget>[1]) =>
    gatewayTarget(pki, { ...options, config: { ...options.config, profile: 'fapi2-message-signing' } }),
  'oidc-provider': oidcProviderTarget,
} as const;
const names = args.targets.split(',') as (keyof typeof starters)[];
for (const name of names) if (!starters[name]) throw new Error(`unknown target ${name}`);

const pki = await benchPki();
console.log(`${flows} flows per server at concurrency ${concurrency} (warm-up ${warmup}), tokens signed ${alg}, ${gatewaySource(args)}; oidc-provider with node ${args['oidc-provider-node-args'] || 'without flags'}`);
const rows: (string | number)[][] = [];
/** Server CPU ms per flow of each target, over all its flows and slice by slice. */
const cpuPerFlow = new Map<string, { all: number; bySlice: number[] }>();
const slices = Math.max(1, Number(args.slices));
const perSlice = Math.ceil(flows / slices);
interface Session {
  name: string;
  target: FlowTarget;
  signed: boolean;
  flowOf: (material: FlowMaterial[]) => (i: number, worker: number) => Promise<void>;
  trips: Map<number, number>;
  runs: RunResult[];
  serverCpuMs: number;
  benchCpuMs: number;
  bySlice: number[];
}
const sessions: Session[] = [];
try {
  for (const name of names) {
    const target: FlowTarget = await starters[name](pki, { ...gatewayRun(args), alg, concurrency, oidcProviderNodeArgs: args['oidc-provider-node-args'].split(/\s+/).filter(Boolean) });
    // One browser per concurrent flow, each logged in once (a browser runs one flow at a time).
    const signed = name === 'fapi-gateway-signed';
    const logins = await logInBrowsers(target, pki, concurrency, signed);
    const browsers = logins.map((l) => l.browser);
    console.log(`\n${name} (pid ${target.server.pid}): ${browsers.length} browsers logged in; access token: ${logins[0].accessToken}`);
    const trips = new Map<number, number>();
    const flowOf = (material: FlowMaterial[]) => async (i: number, worker: number) => {
      const n = await target.flow(material[i], browsers[worker]);
      trips.set(n, (trips.get(n) ?? 0) + 1);
    };
    sessions.push({ name, target, signed, flowOf, trips, runs: [], serverCpuMs: 0, benchCpuMs: 0, bySlice: [] });
  }
  for (const s of sessions) {
    const warm = await flowMaterial(pki.clientOne.jwk, s.target.audience, warmup, s.signed);
    printFailures(`${s.name} warm-up`, await runBounded({ count: warmup, concurrency, maxMs, task: s.flowOf(warm) }));
    s.trips.clear();
  }
  for (let slice = 0; slice < slices; slice++) {
    for (let k = 0; k < sessions.length; k++) {
      const s = sessions[(slice + k) % sessions.length];
      // Signed just before its slice: pre-signed assertions must stay younger than 280 s.
      const material = await flowMaterial(pki.clientOne.jwk, s.target.audience, perSlice, s.signed);
      const { run, serverCpuMs, benchCpuMs } = await timedRun(s.target.server, { count: perSlice, concurrency, maxMs, task: s.flowOf(material) });
      s.runs.push(run);
      s.serverCpuMs += serverCpuMs;
      s.benchCpuMs += benchCpuMs;
      s.bySlice.push(serverCpuMs / run.attempted);
    }
  }
  for (const s of sessions) {
    const run = mergeRuns(s.runs);
    printFailures(s.name, run);
    if (run.failures.size > 0) console.log(`  last lines ${s.name} printed:\n${s.target.server.output().split('\n').slice(-10).join('\n')}`);
    if (run.timedOut) console.log(`  ${s.name}: a slice was stopped by the ${maxMs / 1000} s bound (${run.attempted} flows in all)`);
    console.log(`  ${s.name}: HTTP round trips per flow: ${[...s.trips].map(([n, k]) => `${n} (${k} flows)`).join(', ')}`);
    cpuPerFlow.set(s.name, { all: s.serverCpuMs / run.attempted, bySlice: s.bySlice });
    rows.push([s.name, [...s.trips.keys()].join('/'), ...runColumns(run, 1), fixed(s.serverCpuMs / run.attempted, 2), fixed(s.benchCpuMs / run.attempted, 2)]);
  }
} finally {
  await Promise.all(sessions.map((s) => s.target.close()));
  await pki.remove();
}

console.log();
printTable(['server', 'trips', 'flows', 'failed', 'flows/s', 'p50 ms', 'p99 ms', 'server CPU ms/flow', 'bench CPU ms/flow'], rows);
const reference = cpuPerFlow.get('oidc-provider');
if (reference) {
  // Each slice's ratio to oidc-provider's slice next to it.
  const ratios = [...cpuPerFlow]
    .filter(([name]) => name !== 'oidc-provider')
    .map(([name, { all, bySlice }]) => [name, fixed(all / reference.all, 2), pairedRatios(bySlice, reference.bySlice)]);
  console.log();
  printTable(['server CPU per flow', '/ oidc-provider', 'median of the slices (each slice)'], ratios);
}
