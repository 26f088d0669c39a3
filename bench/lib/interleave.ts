import type { Pool } from 'undici';
import type { WindowResult } from './gateway-report.js';
import type { ResourceTarget } from './resource-targets.js';
import type { ResourceServer } from './resource-servers.js';
import { mergeRuns, percentile, printFailures, runBounded, type RunResult } from './stats.js';
import { UPSTREAM_BODY } from './upstream-body.js';

export interface InterleaveOptions {
  concurrency: number;
  warmup: number;
  /** Timed requests per target, run in `slices` equal parts. */
  count: number;
  slices: number;
  /** Bound on one target's timed requests (all slices together), and on its warm-up. */
  maxMs: number;
  path: string;
}

/** Access tokens live 300 s: a gateway's is renewed (untimed) once older than this. */
const TOKEN_MAX_AGE_MS = 150_000;

interface Session {
  target: ResourceTarget;
  pool: Pool;
  headers: Record<string, string>;
  headersAt: number;
  runs: RunResult[];
  cpu: { proxy: number; upstream: number; bench: number };
}

/**
 * Measures every target at one concurrency, the timed requests interleaved: each target runs
 * count/slices requests in turn, the starting target rotating, so a change in background load
 * (a shared machine) falls on all of them alike. CPU is read around each slice only.
 */
export async function measureInterleaved(targets: ResourceTarget[], upstream: ResourceServer, options: InterleaveOptions): Promise<Omit<WindowResult, 'round'>[]> {
  const { concurrency, maxMs } = options;
  const sessions: Session[] = [];
  for (const target of targets)
    sessions.push({ target, pool: target.pool(concurrency), headers: await target.headers(), headersAt: Date.now(), runs: [], cpu: { proxy: 0, upstream: 0, bench: 0 } });
  const task = (s: Session) => async () => {
    const res = await s.pool.request({ method: 'GET', path: options.path, headers: s.target.requestHeaders?.() ?? s.headers });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${text.slice(0, 120)}`);
    if (text !== UPSTREAM_BODY) throw new Error(`200 with another body: ${text.slice(0, 80)}`);
  };
  try {
    for (const s of sessions) {
      await s.target.prepare?.(options.warmup, options.path);
      printFailures(`${s.target.kind} warm-up c=${concurrency}`, await runBounded({ count: options.warmup, concurrency, maxMs, task: task(s) }));
    }
    const perSlice = Math.ceil(options.count / options.slices);
    for (let slice = 0; slice < options.slices; slice++) {
      for (let k = 0; k < sessions.length; k++) {
        const s = sessions[(slice + k) % sessions.length];
        const spentMs = s.runs.reduce((sum, r) => sum + r.elapsedMs, 0);
        if (spentMs >= maxMs) continue;
        if (s.target.proxy && Date.now() - s.headersAt > TOKEN_MAX_AGE_MS) [s.headers, s.headersAt] = [await s.target.headers(), Date.now()];
        await s.target.prepare?.(perSlice, options.path);
        const proxyBefore = s.target.proxy?.cpuMs() ?? 0;
        const upstreamBefore = upstream.server.cpuMs();
        const benchBefore = process.cpuUsage();
        s.runs.push(await runBounded({ count: perSlice, concurrency, maxMs: maxMs - spentMs, task: task(s) }));
        const bench = process.cpuUsage(benchBefore);
        s.cpu.proxy += (s.target.proxy?.cpuMs() ?? 0) - proxyBefore;
        s.cpu.upstream += upstream.server.cpuMs() - upstreamBefore;
        s.cpu.bench += (bench.user + bench.system) / 1000;
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.pool.close()));
  }
  return sessions.map((s) => summarise(s, concurrency, maxMs));
}

function summarise(s: Session, concurrency: number, maxMs: number): Omit<WindowResult, 'round'> {
  const run = mergeRuns(s.runs);
  const { attempted, elapsedMs, latenciesMs: latencies } = run;
  printFailures(`${s.target.kind} c=${concurrency}`, { ...run, timedOut: false });
  if (run.failures.size > 0 && s.target.proxy) console.log(`  last lines it printed:\n${s.target.proxy.output().split('\n').slice(-5).join('\n')}`);
  if (run.timedOut || elapsedMs >= maxMs) console.log(`  ${s.target.kind} c=${concurrency}: stopped by the ${maxMs / 1000} s bound after ${attempted} requests`);
  return {
    kind: s.target.kind,
    concurrency,
    attempted,
    failed: attempted - run.succeeded,
    rps: attempted / (elapsedMs / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    proxyCpu: s.target.proxy ? s.cpu.proxy / attempted : undefined,
    upstreamCpu: s.cpu.upstream / attempted,
    benchCpu: s.cpu.bench / attempted,
  };
}
