import type { EcosystemHooks } from './hooks.js';

type Hook = (...args: unknown[]) => unknown;

/**
 * One pack from several parts: each hook calls every part's hook in order (the next after the
 * previous one settled); object results are merged, later parts winning, otherwise the first defined
 * result is the answer; a part that throws refuses for all. Hooks stay synchronous while every
 * part's is, since some callers do not await.
 */
export function composeHooks(...parts: EcosystemHooks[]): EcosystemHooks {
  const composed: Record<string, Hook> = {};
  for (const name of new Set(parts.flatMap((part) => Object.keys(part)))) {
    const hooks = parts.map((part) => (part as Record<string, unknown>)[name]).filter((h): h is Hook => typeof h === 'function');
    composed[name] = (...args) => {
      const results: unknown[] = [];
      for (const [i, hook] of hooks.entries()) {
        const result = hook(...args);
        if (result instanceof Promise) return finishAsync(result, hooks.slice(i + 1), args, results);
        results.push(result);
      }
      return combine(results);
    };
  }
  return composed as EcosystemHooks;
}

async function finishAsync(first: Promise<unknown>, rest: Hook[], args: unknown[], results: unknown[]): Promise<unknown> {
  results.push(await first);
  for (const hook of rest) results.push(await hook(...args));
  return combine(results);
}

function combine(results: unknown[]): unknown {
  let answer: unknown;
  for (const result of results) {
    if (result === undefined) continue;
    const plain = typeof result === 'object' && result !== null && !Array.isArray(result);
    if (plain && (answer === undefined || (typeof answer === 'object' && answer !== null))) answer = { ...(answer as object), ...result };
    else if (answer === undefined) answer = result;
  }
  return answer;
}
