import type { ConsentDetails, EcosystemHooks } from './hooks.js';

type AnyHook = (...args: unknown[]) => unknown;

/**
 * One pack from several parts (authorization, registration, resources...): every part's hook is
 * called in order, and their results combined. Objects are merged (a later part's member wins),
 * lists are joined, `true` from any part wins for yes/no hooks, functions (commits) all run,
 * otherwise the first part that answers decides (an error, a number).
 * Consent details are put together. A hook stays synchronous unless a part answers with a promise.
 * `stop` runs in reverse order, every part's even when one fails.
 */
export function composeHooks(...parts: EcosystemHooks[]): EcosystemHooks {
  const composed: Record<string, AnyHook> = {};
  const names = new Set(parts.flatMap((part) => Object.keys(part)));
  for (const name of names) {
    const hooks = parts.map((part) => (part as Record<string, unknown>)[name]).filter((h): h is AnyHook => typeof h === 'function');
    if (name === 'stop') {
      composed.stop = async () => {
        const results = await Promise.allSettled([...hooks].reverse().map((hook) => hook()));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      };
      continue;
    }
    // One part only (the usual case, and the hot paths): its hook as it is.
    if (hooks.length === 1) {
      composed[name] = hooks[0];
      continue;
    }
    const combineResults = name === 'consentDetails' ? combineDetails : combine;
    composed[name] = (...args: unknown[]) => callInOrder(hooks, args, combineResults);
  }
  return composed as EcosystemHooks;
}

/** Calls the hooks one after the other (each awaited once one has returned a promise). */
function callInOrder(hooks: AnyHook[], args: unknown[], combineResults: (results: unknown[]) => unknown): unknown {
  const results: unknown[] = [];
  for (let i = 0; i < hooks.length; i++) {
    const result = hooks[i](...args);
    if (result instanceof Promise) {
      return (async () => {
        results.push(await result);
        for (const hook of hooks.slice(i + 1)) results.push(await hook(...args));
        return combineResults(results);
      })();
    }
    results.push(result);
  }
  return combineResults(results);
}

function combine(results: unknown[]): unknown {
  const answered = results.filter((r) => r !== undefined);
  if (answered.length === 0) return undefined;
  if (answered.length === 1) return answered[0];
  // Commits of several parts (onGrantCreated) go together.
  if (answered.every((r) => typeof r === 'function')) return () => Promise.all(answered.map((commit) => (commit as () => Promise<void>)())).then(() => undefined);
  if (answered.some((r) => typeof r === 'boolean')) return answered.some((r) => r === true);
  if (answered.every(Array.isArray)) return answered.flat();
  if (answered.every(isPlainObject)) return Object.assign({}, ...answered);
  return answered[0];
}

function combineDetails(results: unknown[]): ConsentDetails | undefined {
  const answered = results.filter((r): r is ConsentDetails => r !== undefined);
  if (answered.length === 0) return undefined;
  const accounts = answered.flatMap((d) => d.accounts ?? []);
  return { items: answered.flatMap((d) => d.items), ...(accounts.length ? { accounts } : {}) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
