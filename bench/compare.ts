/**
 * Sets two bench results side by side: `npm run bench:compare -- A.json B.json` prints, for every
 * table both runs printed, each numeric cell of B against A (B/A), rows matched by their first cell.
 * The files are what a bench writes to bench/results/ when it ends.
 */
import { readFileSync } from 'node:fs';
import type { BenchResults, ResultTable } from './lib/results.js';
import { fixed, printTable } from './lib/stats.js';

const [fileA, fileB] = process.argv.slice(2);
if (!fileA || !fileB) {
  console.error('usage: npm run bench:compare -- A.json B.json   (files from bench/results/)');
  process.exit(2);
}
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const a = read(fileA);
const b = read(fileB);
if (a.bench !== b.bench) console.log(`note: comparing ${a.bench} with ${b.bench}`);
console.log(`A: ${a.bench} at ${a.commit} (${a.startedAt})\nB: ${b.bench} at ${b.commit} (${b.startedAt})\ncells: B / A (B's figure in brackets)`);

const key = (t: ResultTable) => t.headers.join('|');
const tablesB = new Map(b.tables.map((t) => [key(t), t]));
let compared = 0;
for (const tableA of a.tables) {
  const tableB = tablesB.get(key(tableA));
  if (!tableB) continue;
  const rowsB = new Map(tableB.rows.map((r) => [String(r[0]), r]));
  const rows: string[][] = [];
  for (const rowA of tableA.rows) {
    const rowB = rowsB.get(String(rowA[0]));
    if (!rowB) continue;
    rows.push([String(rowA[0]), ...rowA.slice(1).map((cell, i) => ratio(cell, rowB[i + 1]))]);
  }
  if (rows.length === 0) continue;
  console.log();
  printTable(tableA.headers, rows);
  compared++;
}
if (compared === 0) console.log('\nthe two runs printed no table with the same columns');

/** B/A with B's figure, or B as it is when either cell is not a number. */
function ratio(cellA: string | number, cellB: string | number | undefined): string {
  const x = Number(cellA);
  const y = Number(cellB);
  if (cellB === undefined) return '-';
  if (!Number.isFinite(x) || !Number.isFinite(y) || String(cellA).trim() === '') return String(cellB);
  if (x === 0) return y === 0 ? `= (${cellB})` : `- (${cellB})`;
  return `${fixed(y / x, 2)}× (${cellB})`;
}
