import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A table a bench printed, kept as it was printed so two runs can be set side by side. */
export interface ResultTable {
  headers: string[];
  rows: (string | number)[][];
}

/** What `bench/results/<bench>-<time>.json` holds. */
export interface BenchResults {
  bench: string;
  /** The commit the bench ran on (`git rev-parse --short HEAD`), with `+dirty` when the tree had changes. */
  commit: string;
  startedAt: string;
  argv: string[];
  tables: ResultTable[];
}

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
const tables: ResultTable[] = [];
let writing = false;

/**
 * Keeps a printed table for the results file, written once when the bench exits, so every bench
 * that prints tables leaves figures `npm run bench:compare` can read without a second code path.
 */
export function recordTable(table: ResultTable): void {
  tables.push(table);
  if (writing) return;
  writing = true;
  const startedAt = new Date().toISOString();
  process.once('exit', () => writeResults(startedAt));
}

function writeResults(startedAt: string): void {
  const bench = path.basename(process.argv[1] ?? 'bench', '.ts');
  if (bench === 'compare' || bench === 'cpu-profile-top') return;
  const results: BenchResults = { bench, commit: currentCommit(), startedAt, argv: process.argv.slice(2), tables };
  try {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `${bench}-${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    console.log(`\nfigures written to ${path.relative(process.cwd(), file)}`);
  } catch (err) {
    console.log(`\nthe figures could not be written to ${RESULTS_DIR}: ${(err as Error).message}`);
  }
}

function currentCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}
