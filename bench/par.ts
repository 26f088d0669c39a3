/**
 * PAR throughput of fapi-gateway: client-one pushes authorization requests over mutual TLS,
 * authenticated by pre-signed private_key_jwt assertions. The gateway runs in a child process so
 * its CPU time is read from /proc on its own. See bench/README.md.
 */
import { parseArgs } from 'node:util';
import { boundMs, GATEWAY_OPTIONS, gatewayRun } from './lib/args.js';
import { startGateway } from './lib/gateway.js';
import { expectStatus, httpsPool, send } from './lib/http.js';
import { parBody, pkce, presignAssertions } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, printFailures, printTable, runBounded, runColumns, timedRun } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '1,16' },
    warmup: { type: 'string', default: '500' },
    'max-seconds': { type: 'string', default: '120' },
    ...GATEWAY_OPTIONS,
  },
});
const count = Number(args.count);
const levels = args.concurrency.split(',').map(Number);
const warmup = Number(args.warmup);
const maxMs = boundMs(args['max-seconds'], 240);

const pki = await benchPki();
const gateway = await startGateway(pki, { ...gatewayRun(args), alg: 'ES256' });
console.log(`fapi-gateway (${args.runtime}${args['gateway-root'] ? ` from ${args['gateway-root']}` : ''}) pid ${gateway.server.pid}; PAR at ${gateway.mtlsBase}/par; ${count} requests per level, warm-up ${warmup}`);

const rows: (string | number)[][] = [];
try {
  for (const concurrency of levels) {
    const pool = httpsPool(gateway.mtlsBase, { ca: pki.ca, client: pki.clientOne, connections: concurrency });
    const bodies = async (n: number) => (await presignAssertions(pki.clientOne.jwk, gateway.issuer, n)).map((a) => parBody(a, pkce().challenge));
    const push = (body: string) => async () => {
      expectStatus(await send(pool, { method: 'POST', path: '/par', form: body }), 201, 'PAR');
    };

    const warm = await bodies(warmup);
    const warmRun = await runBounded({ count: warmup, concurrency, maxMs, task: (i) => push(warm[i])() });
    printFailures(`warm-up c=${concurrency}`, warmRun);

    const timed = await bodies(count);
    const { run, serverCpuMs, benchCpuMs } = await timedRun(gateway.server, { count, concurrency, maxMs, task: (i) => push(timed[i])() });
    await pool.close();

    printFailures(`c=${concurrency}`, run);
    if (run.timedOut) console.log(`  c=${concurrency}: stopped by the ${maxMs / 1000} s bound after ${run.attempted} requests`);
    rows.push([
      `c=${concurrency}`,
      ...runColumns(run, 0),
      fixed(serverCpuMs / run.attempted, 3),
      fixed(benchCpuMs / run.attempted, 3),
    ]);
  }
} finally {
  await gateway.server.stop();
  await pki.remove();
}

console.log();
printTable(['PAR', 'requests', 'non-201', 'req/s', 'p50 ms', 'p99 ms', 'server CPU ms/req', 'bench CPU ms/req'], rows);
if (args['cpu-prof']) console.log(`\nCPU profile of the gateway written to ${args['cpu-prof']} (summarise: node --import tsx bench/cpu-profile-top.ts FILE)`);
