import type { TSchema, Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError, keyPathFromPointer } from './config-error.js';

/** Applies schema defaults and validates; throws the first problem with its key path. */
export function validate<S extends TSchema>(schema: S, input: unknown, prefix = ''): Static<S> {
  const value = Value.Default(schema, structuredClone(input ?? {}));
  const first = Value.Errors(schema, value).First();
  if (first) {
    const path = keyPathFromPointer(first.path);
    throw new ConfigError(prefix && path ? `${prefix}.${path}` : prefix || path, describe(first.message, first.value));
  }
  return value as Static<S>;
}

function describe(message: string, value: unknown): string {
  if (value === undefined) return `${message} (missing)`;
  const shown = JSON.stringify(value);
  return shown && shown.length <= 60 ? `${message}, got ${shown}` : message;
}
