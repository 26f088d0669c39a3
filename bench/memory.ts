/**
 * Memory over time: complete flows, each with a new login (PAR → login page → password, one
 * scrypt → consent → token), against fapi-gateway in a child process, sampling its RSS (from
 * /proc) and its JS heap (`nodejs_heap_size_used_bytes` from /metrics) as the flows go on and once
 * they stop. Lifetimes are short (as in bench:soak) so the state the flows leave ends within the
 * run: what stays is the process's own memory, not the store's records.
 *
 *   npm run bench:memory -- --flows 10000 --concurrency 8 --samples 10
 *   npm run bench:memory -- --minutes 30              # flows for 30 minutes instead of a count
 *   npm run bench:memory -- --env MALLOC_ARENA_MAX= --env GLIBC_TUNABLES=   # glibc's defaults, to compare
 *   npm run bench:memory -- --node-args=                 # V8's own young generation size (the image sets 2 × 8 MB)
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { GATEWAY_OPTIONS, gatewayRun, gatewaySource } from './lib/args.js';
import { gatewayTarget } from './lib/flow-targets.js';
import { flowMaterial } from './lib/oauth-client.js';
import { benchPki } from './lib/pki.js';
import { fixed, printFailures, printTable, runBounded } from './lib/stats.js';
import { IMAGE_ALLOCATOR_ENV } from '../test/helpers/image-env.js';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '10000' },
    minutes: { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    samples: { type: 'string', default: '10' },
    /** Seconds to wait after the flows, every lifetime passed, for the last sample. */
    settle: { type: 'string', default: '45' },
    env: { type: 'string', multiple: true, default: [] },
    ...GATEWAY_OPTIONS,
  },
});
const concurrency = Number(args.concurrency);
const samples = Math.max(1, Number(args.samples));
const untilMs = args.minutes ? Date.now() + Number(args.minutes) * 60_000 : undefined;
const totalFlows = untilMs ? Number.MAX_SAFE_INTEGER : Number(args.flows);
// The image's allocator settings unless --env says otherwise (an empty value drops one).
const env: Record<string, string> = { ...IMAGE_ALLOCATOR_ENV };
for (const pair of args.env) {
  const [k, ...v] = pair.split('=');
  env[k] = v.join('=');
}
for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
// Seconds, as bench:soak's: every record the flows write ends within the run.
// The default number of hashing slots (what is measured); a queue long enough that no login is shed.
const lifetimes = { code: 10, requestUri: 10, accessToken: 10, idToken: 10, refreshToken: 20, interaction: 30, session: 20, grant: 30 };

const pki = await benchPki();
// The image's node flags (startGateway's default) unless --node-args gives others (--node-args= for none).
const target = await gatewayTarget(pki, { ...gatewayRun(args), alg: 'ES256', concurrency, config: { policy: { lifetimes }, admission: { passwordHashing: { queue: 4 * concurrency } } }, env });
console.log(`fapi-gateway pid ${target.server.pid} (${gatewaySource(args)}; env ${JSON.stringify(env)}); ${untilMs ? `${args.minutes} minutes` : `${totalFlows} flows`} of login flows at concurrency ${concurrency}`);

const rssMb = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${target.server.pid}/status`, 'utf8'))?.[1]) / 1024;
/** The JS heap in use and committed (V8's pages, the young generation's included), from /metrics. */
async function heapMb(): Promise<{ used: number; total: number }> {
  const text = await (await fetch(`${target.opsBase}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^nodejs_heap_size_${name}_bytes (\\S+)`, 'm').exec(text)?.[1]) / 1_048_576;
  return { used: read('used'), total: read('total') };
}
const rows: (string | number)[][] = [];
let done = 0;
let failed = 0;
const started = Date.now();
// The gateway's CPU per flow over each slice: what a setting that saves memory costs.
let last = { cpuMs: target.server.cpuMs(), flows: 0 };
const sample = async (label: string) => {
  const cpuMs = target.server.cpuMs();
  const flows = done + failed - last.flows;
  const heap = await heapMb();
  const cpu = flows > 0 ? fixed((cpuMs - last.cpuMs) / flows, 1) : '';
  rows.push([label, done, failed, fixed((Date.now() - started) / 1000, 0), fixed(rssMb(), 1), fixed(heap.used, 1), fixed(heap.total, 1), cpu]);
  last = { cpuMs, flows: done + failed };
};

/** Runs flows until `more()` says stop, in batches whose assertions are signed just before (they live 280 s). */
async function flowsWhile(more: () => number): Promise<void> {
  for (let batch = more(); batch > 0; batch = more()) {
    const material = await flowMaterial(pki.clientOne.jwk, target.audience, batch);
    const run = await runBounded({ count: batch, concurrency, maxMs: 240_000, task: (i) => target.login(material[i]) });
    printFailures(`flows ${done + failed}..${done + failed + batch}`, run);
    done += run.succeeded;
    failed += run.attempted - run.succeeded;
  }
}

try {
  await sample('idle');
  for (let s = 1; s <= samples; s++) {
    if (untilMs) {
      const due = started + ((untilMs - started) * s) / samples;
      await flowsWhile(() => (Date.now() < due ? 200 : 0));
    } else {
      const due = Math.round((totalFlows * s) / samples);
      await flowsWhile(() => Math.min(200, due - done - failed));
    }
    await sample(`after slice ${s}`);
  }
  console.log(`waiting ${args.settle} s: every lifetime passes`);
  await sleep(Number(args.settle) * 1000);
  await sample('settled');
} finally {
  await target.close();
  await pki.remove();
}
console.log();
printTable(['sample', 'flows', 'failed', 'seconds', 'RSS MB', 'heap used MB', 'heap total MB', 'CPU ms/flow'], rows);
