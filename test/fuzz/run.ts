import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// `npm run fuzz -- --runs 100000 [--seed 42] [--file mtls]`: the fuzz suite's long mode, for a night.
// It runs the same tap files as CI with FUZZ_RUNS (cases per property) and FUZZ_SEED set and no time limit.

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    file: { type: 'string' },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
  console.error('usage: npm run fuzz -- [--runs N] [--seed S] [--file mtls|public|raw]');
  process.exit(2);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const files = readdirSync(path.join(root, 'test'))
  .filter((f) => /^fuzz-.*\.test\.ts$/.test(f) && (!values.file || f.includes(values.file)))
  .map((f) => path.join('test', f));

console.log(`fuzzing ${files.join(', ')} with ${runs} runs per property, seed ${seed} (replay with --seed ${seed})`);
const tap = spawn(path.join(root, 'node_modules/.bin/tap'), ['--timeout=0', '--jobs=1', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed) },
});
tap.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
