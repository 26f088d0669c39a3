import fc, { type Parameters, type RunDetails } from 'fast-check';

/**
 * How hard the fuzz suite pushes. CI runs a few hundred cases per property (`FUZZ_RUNS`, default 150);
 * `npm run fuzz -- --runs 100000` sets it for a long run. The seed is fixed so a CI failure replays the
 * same way; `FUZZ_SEED` changes it, and fast-check prints the seed and path of any counterexample.
 */
export const FUZZ_RUNS = positiveInt(process.env.FUZZ_RUNS, 150);
export const FUZZ_SEED = Number.isInteger(Number(process.env.FUZZ_SEED)) && process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_261_202;

/** fast-check parameters for one property: `share` scales the run count (cheap properties run more cases). */
export function fuzzParameters<T>(share = 1): Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(FUZZ_RUNS * share)),
    seed: FUZZ_SEED,
    // Shrinking a network property costs many requests; a short, readable counterexample is enough.
    endOnFailure: false,
    reporter: report,
  };
}

/**
 * fast-check's own report prints every value of the counterexample whole (some are hundreds of kilobytes);
 * this one prints the seed and path to replay it, the failure, and the counterexample cut short.
 */
function report<T>(out: RunDetails<T>): void {
  if (!out.failed) return;
  const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);
  const failure = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  const values = out.counterexample as unknown[] | null | undefined;
  const counterexample = values == null ? 'none' : values.map((value) => cut(fc.stringify(value), 600)).join(',\n  ');
  throw new Error(
    `Property failed after ${out.numRuns} runs (shrunk ${out.numShrinks} times); replay with FUZZ_SEED=${out.seed} ` +
      `(fast-check seed ${out.seed}, path "${out.counterexamplePath}")\n${cut(failure, 4000)}\ncounterexample:\n  ${counterexample}`,
  );
}

/** A tap timeout for a fuzz test: generous in CI, unlimited in a long run. */
export function fuzzTimeout(msPerRun = 150): number {
  return Math.max(120_000, FUZZ_RUNS * msPerRun);
}

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
