import type { TargetKind } from './resource-targets.js';
import { TARGETS } from './resource-targets.js';
import { fixed, printTable } from './stats.js';

/** One timed window of bench/gateway.ts: one target at one concurrency in one round. */
export interface WindowResult {
  round: number;
  kind: TargetKind;
  concurrency: number;
  attempted: number;
  /** Replies that were not 200 with the upstream's body, and failed requests. */
  failed: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU ms per request of the process in front of the upstream (bare proxy or gateway). */
  proxyCpu?: number;
  upstreamCpu: number;
  benchCpu: number;
}

export function printWindows(results: WindowResult[]): void {
  printTable(
    ['round', 'target', 'c', 'requests', 'non-200', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU ms/req', 'upstream CPU ms/req', 'bench CPU ms/req'],
    results.map((r) => [
      r.round,
      TARGETS[r.kind],
      r.concurrency,
      r.attempted,
      r.failed,
      fixed(r.rps, 0),
      fixed(r.p50, 3),
      fixed(r.p99, 3),
      r.proxyCpu === undefined ? '-' : fixed(r.proxyCpu, 3),
      fixed(r.upstreamCpu, 3),
      fixed(r.benchCpu, 3),
    ]),
  );
}

type Lookup = (kind: TargetKind) => WindowResult | undefined;
const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${fixed((ratio - 1) * 100, 1)}%`;
const us = (ms: number) => `${ms >= 0 ? '+' : ''}${fixed(ms * 1000, 0)} µs`;

/** Each comparison: a label and how to compute it from one round's results at one concurrency. */
const COMPARISONS: [string, (w: Lookup) => string][] = [
  ['c/b requests/s (target >= 0.70 at c=16)', (w) => ratio(w('gateway')?.rps, w('bare')?.rps, (x) => fixed(x, 2))],
  ['p99 added c - b, ms (target < 2 at c=16)', (w) => diff(w('gateway')?.p99, w('bare')?.p99, (x) => fixed(x, 3))],
  ['p50 added c - b, ms', (w) => diff(w('gateway')?.p50, w('bare')?.p50, (x) => fixed(x, 3))],
  ['proxy CPU per request c / b', (w) => ratio(w('gateway')?.proxyCpu, w('bare')?.proxyCpu, (x) => `${fixed(x, 2)}x`)],
  ['DPoP vs certificate-bound: proxy CPU e / c (target <= 1.5)', (w) => ratio(w('gateway-dpop')?.proxyCpu, w('gateway')?.proxyCpu, (x) => `${fixed(x, 2)}x`)],
  ['CDR conventions: req/s f / c', (w) => ratio(w('gateway-cdr')?.rps, w('gateway')?.rps, pct)],
  ['CDR conventions: proxy CPU f - c per req', (w) => diff(w('gateway-cdr')?.proxyCpu, w('gateway')?.proxyCpu, us)],
  ['CDR conventions: p50 f - c, ms', (w) => diff(w('gateway-cdr')?.p50, w('gateway')?.p50, (x) => fixed(x, 3))],
  ['tracing on vs off: req/s g / c', (w) => ratio(w('gateway-tracing')?.rps, w('gateway')?.rps, pct)],
  ['tracing on vs off: proxy CPU g - c per req', (w) => diff(w('gateway-tracing')?.proxyCpu, w('gateway')?.proxyCpu, us)],
  ['b/a requests/s (the bare proxy vs direct)', (w) => ratio(w('bare')?.rps, w('upstream')?.rps, (x) => fixed(x, 2))],
  ['metrics on vs off: req/s c / d', (w) => ratio(w('gateway')?.rps, w('gateway-no-metrics')?.rps, pct)],
  ['metrics on vs off: proxy CPU c - d per req', (w) => diff(w('gateway')?.proxyCpu, w('gateway-no-metrics')?.proxyCpu, us)],
  ['metrics on vs off: proxy CPU c / d', (w) => ratio(w('gateway')?.proxyCpu, w('gateway-no-metrics')?.proxyCpu, pct)],
  ["log line (info vs warn): req/s c' / c", (w) => ratio(w('gateway-info')?.rps, w('gateway')?.rps, pct)],
  ["log line (info vs warn): proxy CPU c' - c per req", (w) => diff(w('gateway-info')?.proxyCpu, w('gateway')?.proxyCpu, us)],
  ["log line (info vs warn): p99 c' - c, ms", (w) => diff(w('gateway-info')?.p99, w('gateway')?.p99, (x) => fixed(x, 3))],
];

function ratio(a: number | undefined, b: number | undefined, show: (x: number) => string): string {
  return a === undefined || b === undefined || b === 0 ? '-' : show(a / b);
}
function diff(a: number | undefined, b: number | undefined, show: (x: number) => string): string {
  return a === undefined || b === undefined ? '-' : show(a - b);
}

/** The ratios and differences, one column per round and concurrency, and the verdict on the targets. */
export function printComparisons(results: WindowResult[], rounds: number[], levels: number[]): void {
  const columns = rounds.flatMap((round) => levels.map((concurrency) => ({ round, concurrency })));
  const picker = (round: number, concurrency: number): Lookup => (kind) =>
    results.find((r) => r.round === round && r.concurrency === concurrency && r.kind === kind);
  printTable(
    ['comparison', ...columns.map((c) => `r${c.round} c=${c.concurrency}`)],
    COMPARISONS.map(([label, compute]) => [label, ...columns.map((c) => compute(picker(c.round, c.concurrency)))]),
  );
  const top = Math.max(...levels);
  for (const round of rounds) {
    const w = picker(round, top);
    const [gw, bare] = [w('gateway'), w('bare')];
    if (!gw || !bare) continue;
    const share = gw.rps / bare.rps;
    const added = gw.p99 - bare.p99;
    console.log(
      `round ${round}, c=${top}: c/b = ${fixed(share, 3)} (${share >= 0.7 ? 'meets' : 'MISSES'} >= 0.70); ` +
        `p99 added = ${fixed(added, 3)} ms (${added < 2 ? 'meets' : 'MISSES'} < 2 ms)`,
    );
  }
}
