import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';

/** The full path of an executable on PATH, or undefined. */
export function findProgram(program: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * True when `program` is on PATH. Otherwise a developer's run skips with the reason and how to
 * install it, while CI (CI=true) fails: there a missing program is a broken setup, not a choice.
 */
export function requireProgram(t: Test, program: string, install: string): boolean {
  if (findProgram(program) !== undefined) return true;
  const reason = `${program} not installed (${install})`;
  if (process.env.CI === 'true') t.fail(`${reason}; CI must provide it`);
  else t.pass(`needs ${program}`, { skip: reason });
  return false;
}
