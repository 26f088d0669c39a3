import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { PROFILES_DIR } from '../../src/config/profile.js';

/** Response signing and encryption offered on top of the baseline: what the JARM tests run on. */
export const RESPONSE_SIGNING = {
  name: 'fapi2-response-signing-test',
  responseModes: ['query', 'jwt', 'query.jwt'],
  algorithms: { encryption: { alg: ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES'], enc: ['A256GCM', 'A128GCM'] } },
};

/**
 * A profile file: the baseline `fapi2` profile with `overrides` merged in, written to a temp folder.
 * Derived rather than copied so that keys the baseline gains later are there too.
 */
export async function derivedProfile(overrides: Record<string, unknown> = RESPONSE_SIGNING): Promise<string> {
  const base = parse(await readFile(path.join(PROFILES_DIR, 'fapi2.yaml'), 'utf8'));
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-profile-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'profile.yaml');
  await writeFile(file, stringify(merge(base, overrides)));
  return file;
}

function merge(base: unknown, over: unknown): unknown {
  const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!plain(base) || !plain(over)) return over === undefined ? base : over;
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) merged[k] = merge(base[k], v);
  return merged;
}
