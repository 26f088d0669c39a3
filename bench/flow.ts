/**
 * The complete authorization code flow, fapi-gateway and node-oidc-provider side by side:
 * PAR → authorization with a reused login session (consent every time) → token. Each server runs
 * in its own child process, one after the other, so each one's CPU time is read on its own.
 * See bench/README.md.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Runtime, SigningAlg } from './lib/gateway.js';
import { gatewayTarget, oidcProviderTarget, type FlowTarget } from './lib/flow-targets.js';
import { flowMaterial, type FlowMaterial } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, percentile, printFailures, printTable, runBounded } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '200' },
    'max-seconds': { type: 'string', default: '120' },
    runtime: { type: 'string', default: 'dist' },
    'gateway-root': { type: 'string' },
    alg: { type: 'string', default: 'ES256' },
    targets: { type: 'string', default: 'fapi-gateway,oidc-provider' },
    'cpu-prof': { type: 'string' },
  },
});
const flows = Number(args.flows);
const concurrency = Number(args.concurrency);
const warmup = Number(args.warmup);
const maxMs = Math.min(Number(args['max-seconds']), 240) * 1000;
const alg = args.alg as SigningAlg;
if (alg !== 'ES256' && alg !== 'PS256') throw new Error('--alg must be ES256 or PS256');
const starters = { 'fapi-gateway': gatewayTarget, 'oidc-provider': oidcProviderTarget } as const;
const names = args.targets.split(',') as (keyof typeof starters)[];
for (const name of names) if (!starters[name]) throw new Error(`unknown target ${name}`);

const pki = await benchPki();
console.log(`${flows} flows per server at concurrency ${concurrency} (warm-up ${warmup}), tokens signed ${alg}, gateway from ${args['gateway-root'] ?? '.'}/${args.runtime === 'dist' ? 'dist' : 'src (tsx)'}`);
const rows: (string | number)[][] = [];
try {
  for (const name of names) {
    const target: FlowTarget = await starters[name](pki, { runtime: args.runtime as Runtime, root: args['gateway-root'], alg, concurrency, cpuProfDir: args['cpu-prof'] && path.resolve(args['cpu-prof']) });
    try {
      // One browser per concurrent flow, each logged in once (a browser runs one flow at a time).
      const logins = [];
      for (const material of await flowMaterial(pki.clientOne.jwk, target.audience, concurrency)) logins.push(await target.login(material));
      const browsers = logins.map((l) => l.browser);
      console.log(`\n${name} (pid ${target.server.pid}): ${browsers.length} browsers logged in; access token: ${logins[0].accessToken}`);

      const trips = new Map<number, number>();
      const flowOf = (material: FlowMaterial[]) => async (i: number, worker: number) => {
        const n = await target.flow(material[i], browsers[worker]);
        trips.set(n, (trips.get(n) ?? 0) + 1);
      };
      const warm = await flowMaterial(pki.clientOne.jwk, target.audience, warmup);
      printFailures('warm-up', await runBounded({ count: warmup, concurrency, maxMs, task: flowOf(warm) }));
      trips.clear();

      const material = await flowMaterial(pki.clientOne.jwk, target.audience, flows);
      const cpuBefore = target.server.cpuMs();
      const clientBefore = process.cpuUsage();
      const run = await runBounded({ count: flows, concurrency, maxMs, task: flowOf(material) });
      const serverCpu = target.server.cpuMs() - cpuBefore;
      const clientCpu = process.cpuUsage(clientBefore);

      printFailures(name, run);
      if (run.failures.size > 0) console.log(`  last lines ${name} printed:\n${target.server.output().split('\n').slice(-10).join('\n')}`);
      if (run.timedOut) console.log(`  stopped by the ${maxMs / 1000} s bound after ${run.attempted} flows`);
      console.log(`  HTTP round trips per flow: ${[...trips].map(([n, k]) => `${n} (${k} flows)`).join(', ')}`);
      rows.push([
        name,
        [...trips.keys()].join('/'),
        run.attempted,
        run.attempted - run.succeeded,
        fixed(run.attempted / (run.elapsedMs / 1000), 1),
        fixed(percentile(run.latenciesMs, 50)),
        fixed(percentile(run.latenciesMs, 99)),
        fixed(serverCpu / run.attempted, 2),
        fixed((clientCpu.user + clientCpu.system) / 1000 / run.attempted, 2),
      ]);
    } finally {
      await target.close();
    }
  }
} finally {
  await pki.remove();
}

console.log();
printTable(['server', 'trips', 'flows', 'failed', 'flows/s', 'p50 ms', 'p99 ms', 'server CPU ms/flow', 'bench CPU ms/flow'], rows);
