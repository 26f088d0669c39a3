import type { EcosystemHooks } from '../hooks.js';

type Part = Record<string, ((...args: unknown[]) => unknown) | undefined>;

// Hooks whose answer is one value: the first part with an answer decides.
const FIRST_ANSWER = new Set(['refreshTokenLifetime', 'softwareStatement', 'oneRegistrationPerSoftwareId']);

/**
 * The CDR pack's parts (authorization, registration, resources) as one set of hooks: every part's
 * hook runs in order; object answers are merged (a later part's members win), and for the hooks of
 * FIRST_ANSWER the first part that answers decides.
 */
export function composeHooks(...parts: EcosystemHooks[]): EcosystemHooks {
  const composed: Record<string, (...args: unknown[]) => unknown> = {};
  const names = new Set(parts.flatMap((p) => Object.keys(p)));
  for (const name of names) {
    const fns = parts.map((p) => (p as unknown as Part)[name]).filter((f): f is (...args: unknown[]) => unknown => typeof f === 'function');
    if (fns.length === 1) {
      composed[name] = fns[0];
      continue;
    }
    composed[name] = (...args: unknown[]) => {
      const answers: unknown[] = [];
      const step = (i: number): unknown => {
        for (; i < fns.length; i++) {
          const answer = fns[i](...args);
          if (answer instanceof Promise) return answer.then((a) => (record(a) && FIRST_ANSWER.has(name) ? a : step(i + 1)));
          if (record(answer) && FIRST_ANSWER.has(name)) return answer;
        }
        return combine();
      };
      const record = (a: unknown) => {
        if (a === undefined) return false;
        answers.push(a);
        return true;
      };
      const combine = () => {
        if (FIRST_ANSWER.has(name)) return answers[0];
        if (answers.every((a) => typeof a === 'object' && a !== null)) return answers.length ? Object.assign({}, ...answers) : undefined;
        return answers[answers.length - 1];
      };
      return step(0);
    };
  }
  return composed as EcosystemHooks;
}
