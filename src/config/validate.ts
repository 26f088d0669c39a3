import type { TSchema, Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ValueError } from '@sinclair/typebox/errors';
import { ConfigError, keyPathFromPointer } from './config-error.js';

/** Applies schema defaults and validates; throws the most specific problem with its key path. */
export function validate<S extends TSchema>(schema: S, input: unknown, prefix = ''): Static<S> {
  const value = Value.Default(schema, structuredClone(input ?? {}));
  const first = Value.Errors(schema, value).First();
  if (first) {
    const error = mostSpecific(first);
    const path = keyPathFromPointer(error.path);
    throw new ConfigError(prefix && path ? `${prefix}.${path}` : prefix || path, describe(error, path));
  }
  return value as Static<S>;
}

/**
 * "Expected union value" says little: among the variants, report the error of the one that got
 * furthest (the one whose `type` matched gets past the discriminator and fails deeper).
 */
function mostSpecific(error: ValueError): ValueError {
  let best = error;
  for (const variant of error.errors ?? []) {
    const errors = [...variant];
    if (errors.some((e) => e.path.endsWith('/type'))) continue;
    for (const e of errors) if (e.path.length > best.path.length || best === error) best = mostSpecific(e);
  }
  return best;
}

// Values under these keys may be credentials and are never echoed back.
const SECRET = /(url|password|passwordHash|secret|key)$/i;

function describe(error: ValueError, path: string): string {
  if (error.value === undefined) return `${error.message} (missing)`;
  if (SECRET.test(path) || typeof error.value === 'object') return error.message;
  const shown = JSON.stringify(error.value);
  return shown && shown.length <= 60 ? `${error.message}, got ${shown}` : error.message;
}
