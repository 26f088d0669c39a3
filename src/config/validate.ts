import type { TSchema, Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { ConfigError, ConfigErrors, keyPathFromPointer } from './config-error.js';

/** More than this many problems: the rest are counted, not listed (one mistake can cause many). */
const MAX_LISTED = 25;

/** Applies schema defaults and validates; throws every problem at once, each with its key path. */
export function validate<S extends TSchema>(schema: S, input: unknown, prefix = ''): Static<S> {
  const value = Value.Default(schema, structuredClone(input ?? {}));
  const problems: ConfigError[] = [];
  const seen = new Set<string>();
  let more = 0;
  for (const found of Value.Errors(schema, value)) {
    const error = mostSpecific(found);
    const path = keyPathFromPointer(error.path);
    // One problem per key: a value of the wrong kind fails several checks.
    if (seen.has(path)) continue;
    seen.add(path);
    if (problems.length >= MAX_LISTED) {
      more++;
      continue;
    }
    problems.push(new ConfigError(prefix && path ? `${prefix}.${path}` : prefix || path, describe(error, path)));
  }
  if (problems.length > 0) throw new ConfigErrors(problems, more);
  return value as Static<S>;
}

/**
 * "Expected union value" says little: among the variants, report the error of the one that got
 * furthest (the one whose `type` matched gets past the discriminator and fails deeper).
 */
function mostSpecific(error: ValueError): ValueError {
  if (oneOf(error) !== undefined) return error;
  let best = error;
  for (const variant of error.errors ?? []) {
    const errors = [...variant];
    if (errors.some((e) => e.path.endsWith('/type'))) continue;
    for (const e of errors) if (e.path.length > best.path.length || best === error) best = mostSpecific(e);
  }
  return best;
}

/** The allowed values of a union of literals (log.level), if that is what failed. */
function oneOf(error: ValueError): unknown[] | undefined {
  const variants = (error.schema as { anyOf?: { const?: unknown }[] }).anyOf;
  return error.type === ValueErrorType.Union && variants?.every((v) => v.const !== undefined) ? variants.map((v) => v.const) : undefined;
}

/** What the schema's patterns mean, said in words (an operator should not have to read a regular expression). */
const PATTERNS: Record<string, string> = {
  '^https://': 'must be an https:// URL',
  '^https://[^?#]+$': 'must be an https:// URL without a query or fragment',
  '^https://[^#]+$': 'must be an https:// URL without a fragment',
  '^https?://[^/?#]+(/[^?#]*)?$': 'must be an http:// or https:// URL without a query or fragment',
  '^rediss?://': 'must be a redis:// or rediss:// URL',
  '^\\$scrypt\\$': 'must be a hash printed by `fapi-gateway hash-password` (it starts with $scrypt$)',
  '^[A-Za-z2-7]{16,128}=*$': 'must be base32 (letters and the digits 2 to 7), 16 to 128 characters',
  '^[0-9a-f]{64}$': 'must be a SHA-256 in hex (64 lowercase hex digits)',
  '^[A-Za-z]+(\\.[A-Za-z]+)*$': 'must be a setting name (letters, parts joined by dots)',
  "^(/[A-Za-z0-9._~!$&'()+,;=:@-]+)+$": 'must be a path of one or more /segments of URL-safe characters, without a trailing slash',
  '(^| )openid( |$)': 'must include the scope openid',
};

// Values under these keys may be credentials and are never echoed back.
const SECRET = /(url|password|passwordHash|secret|key)$/i;

function describe(error: ValueError, path: string): string {
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return unknownKey(error, path);
  const allowed = oneOf(error);
  const pattern = (error.schema as { pattern?: string }).pattern;
  const message = allowed
    ? `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`
    : error.type === ValueErrorType.StringPattern && pattern !== undefined
      ? (PATTERNS[pattern] ?? 'does not have the expected form')
      : (inWords(error) ?? error.message);
  if (error.value === undefined) return error.type === ValueErrorType.ObjectRequiredProperty ? message : `${message} (missing)`;
  if (SECRET.test(path) || typeof error.value === 'object') return message;
  const shown = JSON.stringify(error.value);
  return shown && shown.length <= 60 ? `${message}, got ${shown}` : message;
}

/** The common checks said as an operator would (typebox says "Expected integer to be greater or equal to 1"). */
function inWords(error: ValueError): string | undefined {
  const schema = error.schema as { minimum?: number; maximum?: number; minLength?: number; maxLength?: number; minItems?: number; maxItems?: number };
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty: return 'is required (missing)';
    case ValueErrorType.Boolean: return 'must be true or false';
    case ValueErrorType.Integer: return 'must be a whole number';
    case ValueErrorType.Number: return 'must be a number';
    case ValueErrorType.String: return 'must be text';
    case ValueErrorType.Array: return 'must be a list';
    case ValueErrorType.Object: return 'must be a mapping (key: value)';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum: return `must be at least ${schema.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum: return `must be at most ${schema.maximum}`;
    case ValueErrorType.StringMinLength: return schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters long`;
    case ValueErrorType.StringMaxLength: return `must be at most ${schema.maxLength} characters long`;
    case ValueErrorType.ArrayMinItems: return `must list at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.ArrayMaxItems: return `must list at most ${schema.maxItems} items`;
    default: return undefined;
  }
}

/** An unknown key, with the known key it most likely means. */
function unknownKey(error: ValueError, path: string): string {
  const key = path.split(/[.[]/).pop() ?? path;
  const known = Object.keys((error.schema as { properties?: Record<string, unknown> }).properties ?? {});
  const guess = closest(key, known);
  return `is not a known key${guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known here: ${known.join(', ')})` : ''}`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  // Close enough to be a typo, not just another short word.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

/** Edits (insertions, deletions, substitutions, swaps of neighbours) from one word to the other. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}
