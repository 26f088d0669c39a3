/**
 * The complete authorization code flow, fapi-gateway and node-oidc-provider side by side:
 * PAR → authorization with a reused login session (consent every time) → token. Each server runs
 * in its own child process, one after the other, so each one's CPU time is read on its own.
 * See bench/README.md.
 */
import { parseArgs } from 'node:util';
import { FLOW_OPTIONS, flowSettings, gatewayRun, gatewaySource } from './lib/args.js';
import { gatewayTarget, logInBrowsers, oidcProviderTarget, type FlowTarget } from './lib/flow-targets.js';
import { flowMaterial, type FlowMaterial } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, printFailures, printTable, runBounded, runColumns, timedRun } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    ...FLOW_OPTIONS,
    targets: { type: 'string', default: 'fapi-gateway,oidc-provider' },
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
try {
  for (const name of names) {
    const target: FlowTarget = await starters[name](pki, { ...gatewayRun(args), alg, concurrency, oidcProviderNodeArgs: args['oidc-provider-node-args'].split(/\s+/).filter(Boolean) });
    try {
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
      const warm = await flowMaterial(pki.clientOne.jwk, target.audience, warmup, signed);
      printFailures('warm-up', await runBounded({ count: warmup, concurrency, maxMs, task: flowOf(warm) }));
      trips.clear();

      const material = await flowMaterial(pki.clientOne.jwk, target.audience, flows, signed);
      const { run, serverCpuMs, benchCpuMs } = await timedRun(target.server, { count: flows, concurrency, maxMs, task: flowOf(material) });

      printFailures(name, run);
      if (run.failures.size > 0) console.log(`  last lines ${name} printed:\n${target.server.output().split('\n').slice(-10).join('\n')}`);
      if (run.timedOut) console.log(`  stopped by the ${maxMs / 1000} s bound after ${run.attempted} flows`);
      console.log(`  HTTP round trips per flow: ${[...trips].map(([n, k]) => `${n} (${k} flows)`).join(', ')}`);
      rows.push([
        name,
        [...trips.keys()].join('/'),
        ...runColumns(run, 1),
        fixed(serverCpuMs / run.attempted, 2),
        fixed(benchCpuMs / run.attempted, 2),
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
