#!/usr/bin/env node
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { embeddedConfig, SAMPLE_BANK } from '../config/embedded.js';
import { ensureDevPki } from '../devpki/dev-pki.js';
import { sampleBank } from '../sample-bank/server.js';
import { REPLICAS } from './replica-ports.js';

/**
 * `npm run replicas`: two gateway processes on the embedded defaults sharing one Redis, to try
 * scale-out on one machine (development only). `npm run demo -- --replicas` then sends every
 * request of the walk-through to the other replica than the one before.
 */
const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: process.env.FAPI_GATEWAY_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'key-prefix': { type: 'string', default: 'fapi-gateway-replicas:' },
  },
});

const root = fileURLToPath(new URL('../../', import.meta.url));
// The build when run from dist/ (npm run replicas), the sources when run through tsx.
const gatewayCommand = import.meta.url.endsWith('.ts') ? ['--import', 'tsx', path.join(root, 'src/main.ts')] : [path.join(root, 'dist/main.js')];
const pki = await ensureDevPki(path.join(root, 'certs/dev'));
const dir = mkdtempSync(path.join(tmpdir(), 'fapi-gateway-replicas-'));
const children = new Map<string, ChildProcess>();
let stopping = false;
const bank = sampleBank();
await bank.listen(SAMPLE_BANK);

for (const [name, ports] of Object.entries(REPLICAS)) {
  const config = await embeddedConfig(pki);
  const listeners = config.listeners as Record<string, Record<string, unknown>>;
  listeners.public.port = ports.public;
  listeners.mtls.port = ports.mtls;
  listeners.ops.port = ports.ops;
  config.store = { type: 'redis', url: values.redis, keyPrefix: values['key-prefix'] };
  const file = path.join(dir, `replica-${name}.yaml`);
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [...gatewayCommand, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => process.stdout.write(prefixed(name, chunk)));
  child.once('exit', (code) => {
    children.delete(name);
    console.log(`[${name}] exited with ${code}`);
    if (children.size === 0) void stop();
  });
  children.set(name, child);
}
await reportReadiness();
console.log(`two replicas on ${values.redis} (key prefix ${values['key-prefix']}); issuer https://localhost:${REPLICAS.A.public}`);
console.log(`  A: public ${REPLICAS.A.public}, mTLS ${REPLICAS.A.mtls}, ops ${REPLICAS.A.ops}`);
console.log(`  B: public ${REPLICAS.B.public}, mTLS ${REPLICAS.B.mtls}, ops ${REPLICAS.B.ops}`);
console.log('  walk-through alternating A and B: npm run demo -- --replicas');

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const exits = [...children.values()].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  // SIGINT: the replicas drain without the readiness delay meant for load balancers (there is none here).
  for (const child of children.values()) child.kill('SIGINT');
  await Promise.all(exits);
  await bank.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

function prefixed(name: string, chunk: Buffer): string {
  return chunk
    .toString('utf8')
    .split('\n')
    .map((line, i, lines) => (line === '' && i === lines.length - 1 ? '' : `[${name}] ${line}`))
    .join('\n');
}

/** Waits up to 30 s (a busy machine starts slowly) for both replicas' /readyz; says which is not ready (usually: Redis is not running). */
async function reportReadiness(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const [name, ports] of Object.entries(REPLICAS)) {
    let ready = false;
    while (!ready && Date.now() < deadline && !stopping) {
      ready = await fetch(`http://127.0.0.1:${ports.ops}/readyz`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (!ready) console.log(`[${name}] not ready after 30 s: is Redis running at ${values.redis}? (--redis URL, or FAPI_GATEWAY_REDIS_URL)`);
  }
}
