/**
 * The resource front door, side by side on loopback: (a) the upstream called directly, (b) a bare
 * Node mTLS pass-through proxy (the floor), (c) the gateway route with a bound access token,
 * (d) the same with metrics off, (c') the same with the per-request log line on (level info).
 * Every server runs in its own child process so its CPU time is read from /proc on its own; the
 * timed requests of all targets are interleaved in slices. See bench/README.md.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { boundMs, GATEWAY_OPTIONS, gatewayRun, gatewaySource } from './lib/args.js';
import { printComparisons, printWindows, type WindowResult } from './lib/gateway-report.js';
import { measureInterleaved } from './lib/interleave.js';
import { benchPki } from './lib/pki.js';
import { pinToCpus } from './lib/proc.js';
import { startUpstream } from './lib/resource-servers.js';
import { startTarget, TARGETS, type ResourceTarget, type TargetContext, type TargetKind } from './lib/resource-targets.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '1,16' },
    warmup: { type: 'string', default: '1000' },
    slices: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '60' },
    // Gateways first: (a) and (b) then send a real token, the same request bytes.
    targets: { type: 'string', default: 'gateway,gateway-no-metrics,gateway-info,gateway-dpop,bare,upstream' },
    ...GATEWAY_OPTIONS,
    // The proxies under test on the last CPU, the bench and the upstream on the others.
    pin: { type: 'boolean', default: false },
  },
});
const levels = args.concurrency.split(',').map(Number);
const rounds = Array.from({ length: Number(args.rounds) }, (_, i) => i + 1);
const options = {
  count: Number(args.count),
  warmup: Number(args.warmup),
  slices: Number(args.slices),
  // Bounds one target's warm-up, and its timed requests at one concurrency.
  maxMs: boundMs(args['max-seconds'], 120),
  path: '/accounts',
};
const kinds = args.targets.split(',') as TargetKind[];
for (const kind of kinds) if (!(kind in TARGETS)) throw new Error(`unknown target ${kind} (one of ${Object.keys(TARGETS).join(', ')})`);
const cpus = availableParallelism();
if (args.pin && cpus < 2) throw new Error('--pin needs at least 2 CPUs');
const [proxyCpus, otherCpus] = [String(cpus - 1), cpus > 2 ? `0-${cpus - 2}` : '0'];
if (args.pin) pinToCpus(process.pid, otherCpus);

const pki = await benchPki();
console.log(
  `GET ${options.path}: ${options.count} requests per target and concurrency (${options.slices} interleaved slices) after ${options.warmup} warm-up, ` +
    `concurrency ${levels.join(' and ')}, ${rounds.length} round(s); ${gatewaySource(args)}; ${cpus} CPUs` +
    (args.pin ? `; pinned: proxies on CPU ${proxyCpus}, bench and upstream on CPU ${otherCpus}` : ''),
);
const results: WindowResult[] = [];
try {
  for (const round of rounds) {
    const upstream = await startUpstream();
    if (args.pin) pinToCpus(upstream.server.pid, otherCpus);
    const ctx: TargetContext = {
      pki,
      upstream,
      ...gatewayRun(args),
      tokens: {},
    };
    const targets: ResourceTarget[] = [];
    try {
      for (const kind of kinds) {
        const target = await startTarget(kind, ctx);
        targets.push(target);
        if (args.pin && target.proxy) pinToCpus(target.proxy.pid, proxyCpus);
      }
      for (const concurrency of levels) {
        for (const result of await measureInterleaved(targets, upstream, { ...options, concurrency })) results.push({ round, ...result });
        console.log(`round ${round}: concurrency ${concurrency} done`);
      }
    } finally {
      for (const target of targets) await target.close();
      await upstream.server.stop();
    }
  }
} finally {
  await pki.remove();
}

const order = Object.keys(TARGETS) as TargetKind[];
results.sort((x, y) => x.round - y.round || order.indexOf(x.kind) - order.indexOf(y.kind) || x.concurrency - y.concurrency);
console.log();
printWindows(results);
console.log();
printComparisons(results, rounds, levels);
if (args['cpu-prof']) console.log(`\nCPU profiles of the proxies written to ${args['cpu-prof']} (summarise: node --import tsx bench/cpu-profile-top.ts FILE)`);
