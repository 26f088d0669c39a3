import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from './config-error.js';
import { ProfileSchema, type Profile } from './schema.js';
import { validate } from './validate.js';

export const PROFILES_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

/** Loads `profiles/<name>.yaml`, then applies the deployment's `policy`, which may only tighten it. */
export async function loadProfile(name: string, policy: Record<string, unknown> | undefined): Promise<Profile> {
  if (!name.endsWith('.yaml') && !/^[a-z0-9-]+$/.test(name))
    throw new ConfigError('profile', `"${name}" is neither a profile name (profiles/<name>.yaml) nor a .yaml file`);
  const file = name.endsWith('.yaml') ? name : path.join(PROFILES_DIR, `${name}.yaml`);
  const raw = await readProfileFile(file, name, []);
  const profile = validate(ProfileSchema, raw, path.basename(file));
  checkConsistent(profile, path.basename(file));
  if (!policy) return withFapi1Advanced(profile, path.basename(file));
  const tightened = validate(ProfileSchema, mergeDeep(profile, policy), 'policy');
  assertNotLooser(profile, tightened, 'policy', '', new Set(Object.keys(profile.bounds ?? {})));
  checkConsistent(tightened, 'policy');
  return withFapi1Advanced(tightened, 'policy');
}

const fapi1AdvancedProfiles = new WeakMap<Profile, Profile>();

/**
 * The rules a FAPI 1.0 Advanced client of this profile is held to: the profile with its
 * `fapi1Advanced` keys in place of its own; the profile itself when it has none.
 */
export function fapi1AdvancedProfile(profile: Profile, at = `${profile.name}.fapi1Advanced`): Profile {
  if (!profile.fapi1Advanced) return profile;
  let derived = fapi1AdvancedProfiles.get(profile);
  if (!derived) {
    const { fapi1Advanced, ...own } = profile;
    derived = validate(ProfileSchema, mergeDeep(own, fapi1Advanced), at);
    checkConsistent(derived, at);
    fapi1AdvancedProfiles.set(profile, derived);
  }
  return derived;
}

/** Derives the FAPI 1.0 Advanced rules at start, so that a bad `fapi1Advanced` key fails there. */
function withFapi1Advanced(profile: Profile, at: string): Profile {
  fapi1AdvancedProfile(profile, `${at}.fapi1Advanced`);
  return profile;
}

/** How many profiles deep `extends` may go (a profile naming itself, or a cycle, fails at once). */
const MAX_EXTENDS_DEPTH = 4;

/**
 * A profile file's content. `extends: <name>` starts from the shipped profile of that name, which
 * the file's own keys then override (objects merged key by key, lists and values replaced).
 */
async function readProfileFile(file: string, name: string, chain: string[]): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ConfigError('profile', chain.length ? `profile ${chain.at(-1)} extends "${name}", which does not exist (looked for ${file})` : `no profile named "${name}" (looked for ${file})`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError('profile', `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isPlainObject(raw) || raw.extends === undefined) return raw;
  const { extends: base, ...own } = raw;
  const at = `${path.basename(file)}.extends`;
  if (typeof base !== 'string' || !/^[a-z0-9-]+$/.test(base)) throw new ConfigError(at, 'must name a shipped profile (profiles/<name>.yaml)');
  if (chain.includes(base) || base === name || chain.length >= MAX_EXTENDS_DEPTH) throw new ConfigError(at, `"${base}" makes a cycle or too long a chain of profiles`);
  const inherited = await readProfileFile(path.join(PROFILES_DIR, `${base}.yaml`), base, [...chain, name]);
  return mergeDeep(inherited, own);
}

/** Rules between keys: JARM is signed with the server's signing keys, so with their algorithms only. */
function checkConsistent(profile: Profile, at: string): void {
  for (const [key, { min, max }] of Object.entries(profile.bounds ?? {})) {
    if (min > max) throw new ConfigError(`${at}.bounds.${key}`, `min ${min} is above max ${max}`);
    const value = key.split('.').reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), profile);
    if (typeof value !== 'number') throw new ConfigError(`${at}.bounds.${key}`, 'names no number of the profile');
    if (value < min || value > max) throw new ConfigError(`${at}.${key}`, `${value} is outside ${min}–${max}`);
  }
  const parOnly = profile.clientAssertion.parAudience?.filter((form) => !profile.clientAssertion.audience.includes(form));
  if (parOnly?.length) throw new ConfigError(`${at}.clientAssertion.parAudience`, `${JSON.stringify(parOnly)} is not in clientAssertion.audience`);
  const extra = profile.algorithms.authorizationResponse?.filter((alg) => !profile.algorithms.signing.includes(alg));
  if (extra?.length) throw new ConfigError(`${at}.algorithms.authorizationResponse`, `${JSON.stringify(extra)} is not in algorithms.signing`);
}

function mergeDeep(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) merged[k] = mergeDeep(base[k], v);
  return merged;
}

// Which direction is "tighter" for each kind of value: a shorter lifetime or tolerance, a subset of a
// list, and for the flags below only the stricter value.
const STRICTER_BOOLEAN: Record<string, boolean> = {
  'consent.everyTime': true,
  idTokenUserClaims: false,
  'tls.renegotiation': false,
  publicBackChannel: false,
  'authorizationRequest.codeRequiresJarm': true,
  'clientAssertion.audienceArray': false,
};
const STRICTER_CHOICE: Record<string, string> = { 'dpop.nonce': 'required' };
const FREE = new Set(['name', 'description', 'refreshTokenRotation.enabled', 'refreshTokenRotation.graceSeconds']);
// Settings whose values go from loosest to tightest: a policy may only move right.
const RANKED: Record<string, string[]> = {
  requestObject: ['none', 'optional', 'required'],
  'authorizationRequest.idTokenEncryption': ['optional', 'required'],
};
// Lists of requirements: a policy may add to them, never drop one.
const REQUIREMENT_LISTS = new Set(['authorizationRequest.requestObjectClaims']);
// Chosen by the profile alone: a policy may not switch an ecosystem pack on, off or to another.
const FIXED = new Set(['ecosystem']);
// Absent from the profile means "not offered": a policy may not add it.
const OFFERED_BY_PROFILE_ONLY = new Set(['algorithms.encryption', 'bounds', 'authorizationRequest', 'authorizationRequest.responseTypes', 'fapi1Advanced']);
// The FAPI 1.0 Advanced overrides tighten as the profile's own keys of the same name do.
const OVERRIDES = 'fapi1Advanced.';

function assertNotLooser(base: unknown, tightened: unknown, at: string, relPath: string, bounded: ReadonlySet<string>): void {
  const rel = relPath.startsWith(OVERRIDES) ? relPath.slice(OVERRIDES.length) : relPath;
  if (FREE.has(rel)) return;
  // A bounded number may take any value in its range (checkConsistent); the range itself may only narrow.
  if (bounded.has(rel)) return;
  if (rel === 'bounds' && isPlainObject(base) && isPlainObject(tightened)) {
    for (const key of Object.keys(tightened)) {
      const was = base[key] as { min: number; max: number } | undefined;
      const now = tightened[key] as { min: number; max: number };
      if (!was) throw new ConfigError(`${at}.${key}`, 'is not a range of the profile and cannot be added by policy');
      if (now.min < was.min || now.max > was.max) throw new ConfigError(`${at}.${key}`, `${now.min}–${now.max} is wider than the profile's ${was.min}–${was.max}`);
    }
    return;
  }
  if (FIXED.has(rel)) {
    if (tightened !== base) throw new ConfigError(at, `is set by the profile (${JSON.stringify(base)}) and cannot be changed by policy`);
    return;
  }
  if (rel in RANKED && typeof base === 'string') {
    if (RANKED[rel].indexOf(tightened as string) < RANKED[rel].indexOf(base)) throw new ConfigError(at, `"${tightened}" is looser than the profile's "${base}"`);
    return;
  }
  if (REQUIREMENT_LISTS.has(rel) && Array.isArray(base) && Array.isArray(tightened)) {
    const dropped = base.filter((v) => !tightened.includes(v));
    if (dropped.length) throw new ConfigError(at, `${JSON.stringify(dropped)} is required by the profile and cannot be dropped by policy`);
    return;
  }
  if (Array.isArray(base) && Array.isArray(tightened)) {
    const extra = tightened.filter((v) => !base.includes(v));
    if (extra.length) throw new ConfigError(at, `${JSON.stringify(extra)} is not allowed by the profile (allowed: ${JSON.stringify(base)})`);
    return;
  }
  if (typeof base === 'number' && typeof tightened === 'number') {
    // 0 means "unlimited" for the refresh token lifetime.
    const unlimited = (n: number) => rel === 'lifetimes.refreshToken' && n === 0;
    if (unlimited(tightened) ? !unlimited(base) : !unlimited(base) && tightened > base)
      throw new ConfigError(at, `${tightened} is looser than the profile's ${base}`);
    return;
  }
  if (rel in STRICTER_CHOICE) {
    if (base === STRICTER_CHOICE[rel] && tightened !== base) throw new ConfigError(at, `the profile requires ${JSON.stringify(base)}`);
    return;
  }
  if (typeof base === 'boolean') {
    if (rel in STRICTER_BOOLEAN && base === STRICTER_BOOLEAN[rel] && tightened !== base)
      throw new ConfigError(at, `the profile requires ${base}`);
    return;
  }
  if (isPlainObject(base) && isPlainObject(tightened)) {
    for (const k of Object.keys(tightened)) {
      const path = rel ? `${rel}.${k}` : k;
      if (!(k in base) && OFFERED_BY_PROFILE_ONLY.has(path)) throw new ConfigError(`${at}.${k}`, 'is not offered by the profile and cannot be added by policy');
    }
    for (const k of Object.keys(base)) assertNotLooser(base[k], tightened[k], `${at}.${k}`, rel ? `${rel}.${k}` : k, bounded);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
