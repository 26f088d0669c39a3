import { recordTable } from './results.js';

/** The outcome of a bounded run of identical operations. */
export interface RunResult {
  attempted: number;
  succeeded: number;
  /** Failure messages and how often each happened. */
  failures: Map<string, number>;
  /** Latency of every successful operation, in milliseconds, sorted. */
  latenciesMs: number[];
  elapsedMs: number;
  /** True when the time bound stopped the run before `count`. */
  timedOut: boolean;
}

/**
 * Runs `task(0..count-1)` with `concurrency` in flight, stopping early (no new task starts) once
 * `maxMs` have passed. `worker` (0..concurrency-1) tells which of the concurrent loops runs a task.
 */
export async function runBounded(options: {
  count: number;
  concurrency: number;
  maxMs: number;
  task: (i: number, worker: number) => Promise<unknown>;
}): Promise<RunResult> {
  const { count, concurrency, maxMs, task } = options;
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  let timedOut = false;
  const start = performance.now();
  const loop = async (worker: number) => {
    while (next < count) {
      if (performance.now() - start > maxMs) {
        timedOut = true;
        return;
      }
      const i = next++;
      const t0 = performance.now();
      try {
        await task(i, worker);
        latencies.push(performance.now() - t0);
      } catch (err) {
        const message = (err as Error).message;
        failures.set(message, (failures.get(message) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, w) => loop(w)));
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { attempted: next, succeeded: latencies.length, failures, latenciesMs: latencies, elapsedMs, timedOut };
}

/** A timed run, with the CPU ms the server process and this process (the load generator) used meanwhile. */
export interface TimedRun {
  run: RunResult;
  serverCpuMs: number;
  benchCpuMs: number;
}

/** `runBounded`, with the CPU time of `server` and of this process read around it. */
export async function timedRun(server: { cpuMs(): number }, options: Parameters<typeof runBounded>[0]): Promise<TimedRun> {
  const serverBefore = server.cpuMs();
  const benchBefore = process.cpuUsage();
  const run = await runBounded(options);
  const serverCpuMs = server.cpuMs() - serverBefore;
  const bench = process.cpuUsage(benchBefore);
  return { run, serverCpuMs, benchCpuMs: (bench.user + bench.system) / 1000 };
}

/** Operations per second over the run's elapsed time. */
/** Several runs of the same work as one: counts and failures added, latencies pooled, times summed. */
export function mergeRuns(runs: readonly RunResult[]): RunResult {
  const failures = new Map<string, number>();
  for (const r of runs) for (const [message, n] of r.failures) failures.set(message, (failures.get(message) ?? 0) + n);
  return {
    attempted: runs.reduce((sum, r) => sum + r.attempted, 0),
    succeeded: runs.reduce((sum, r) => sum + r.succeeded, 0),
    failures,
    latenciesMs: runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b),
    elapsedMs: runs.reduce((sum, r) => sum + r.elapsedMs, 0),
    timedOut: runs.some((r) => r.timedOut),
  };
}

/**
 * Slices of two servers run side by side, their CPU per operation paired slice by slice: the median
 * of the ratios and each one, sorted (`0.46 (0.42 0.44 0.46 0.52 0.54)`). The median shrugs off a
 * slice that a burst of other work on the machine fell on.
 */
export function pairedRatios(own: readonly number[], reference: readonly number[]): string {
  const ratios = own.map((x, i) => x / reference[i]).sort((a, b) => a - b);
  return `${fixed(ratios[Math.floor((ratios.length - 1) / 2)], 2)} (${ratios.map((r) => fixed(r, 2)).join(' ')})`;
}

export const perSecond = (run: RunResult) => run.attempted / (run.elapsedMs / 1000);

/** The first columns of the bench tables: attempted, failed, per second (`rateDigits`), p50 and p99 ms. */
export function runColumns(run: RunResult, rateDigits: number): (string | number)[] {
  return [run.attempted, run.attempted - run.succeeded, fixed(perSecond(run), rateDigits), fixed(percentile(run.latenciesMs, 50)), fixed(percentile(run.latenciesMs, 99))];
}

/** The p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function printFailures(label: string, result: RunResult): void {
  if (result.failures.size === 0) return;
  console.log(`  ${label}: ${result.attempted - result.succeeded} failed:`);
  for (const [message, n] of result.failures) console.log(`    ${n} x ${message}`);
}

/** Prints rows as an aligned text table (and keeps it for the bench's results file). */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  recordTable({ headers, rows });
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  console.log(line(cells[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

export const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
