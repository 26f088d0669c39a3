import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile, Profile } from '../config/schema.js';
import { JWKS_MAX_AGE_SECONDS } from '../oauth/jwks.js';
import { readKeysFile, type KeysFileDocument } from './signing-keys.js';

export const KEYS_USAGE = `  fapi-gateway keys status --config FILE                 the signing keys: published, active, and the next step's earliest time
  fapi-gateway keys rotate publish --alg ALG --config FILE   1. a new key in the keys file, published in the JWKS but not signing
  fapi-gateway keys rotate activate KID --config FILE        2. once every replica and client has it: the key signs, the old one only stays published
  fapi-gateway keys rotate remove KID --config FILE          3. once the old key's tokens have expired: it leaves the JWKS
    (--file KEYS acts on a copy of the keys file, e.g. a Kubernetes Secret's, instead of keys.signing; --force skips the waiting)`;

/** Clock differences between the gateway, its replicas and the clients verifying its tokens. */
const CLOCK_SKEW_SECONDS = 60;

interface KeysCommandOptions {
  config: ConfigFile;
  profile: Profile;
  out: (line: string) => void;
  now?: () => Date;
}

/**
 * Signing-key rotation in the order that breaks no one: a key is published before it signs (clients
 * and replicas that cached the JWKS must see it first), and an old key stays published until every
 * token it signed has expired. Each step checks the previous one, using the times it recorded in the
 * keys file (`rotation`). Returns the exit status.
 */
export async function keysCommand(args: string[], options: KeysCommandOptions): Promise<number> {
  const { config, profile, out } = options;
  const now = options.now ?? (() => new Date());
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const force = args.includes('--force');
  const positional = args.filter((a, i) => !a.startsWith('--') && !['--alg', '--kid', '--file'].includes(args[i - 1] ?? ''));
  if (config.keys.signer) throw new ConfigError('keys.signer', 'the keys are in an HSM: rotate them with the token\'s tools and keys.signer.keys / keys.active (docs/key-rotation.md)');
  const file = flag('--file') ?? config.keys.signing!;
  const document = await readKeysFile(file);
  const keys = document.keys ?? [];
  const rotation = (document.rotation ??= {});
  const active = effectiveActive(document, config.keys.active);
  const [command, step, kid] = positional;
  const stamp = now().toISOString();
  const seconds = (iso: string | undefined) => (iso === undefined ? undefined : (now().getTime() - Date.parse(iso)) / 1000);
  const retireAfter = Math.max(profile.lifetimes.accessToken, profile.lifetimes.idToken) + CLOCK_SKEW_SECONDS;
  const publishAfter = JWKS_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS;

  if (command === 'status') {
    for (const key of keys) {
      const times = rotation[key.kid!] ?? {};
      const state = active.includes(key.kid!) ? 'active' : 'published';
      let next = '';
      if (state === 'published' && times.retired) next = `remove after ${new Date(Date.parse(times.retired) + retireAfter * 1000).toISOString()}`;
      else if (state === 'published') next = `activate after ${times.published ? new Date(Date.parse(times.published) + publishAfter * 1000).toISOString() : 'now'}`;
      out(`${key.kid}\t${key.alg}\t${state}${times.published ? `\tpublished ${times.published}` : ''}${times.activated ? `\tactivated ${times.activated}` : ''}${times.retired ? `\tretired ${times.retired}` : ''}${next ? `\t(${next})` : ''}`);
    }
    return 0;
  }
  if (command !== 'rotate') return usage(out, `unknown keys command "${command ?? ''}"`);

  switch (step) {
    case 'publish': {
      const alg = flag('--alg');
      if (!alg || !(profile.algorithms.signing as readonly string[]).includes(alg)) return usage(out, `--alg must be one of ${profile.algorithms.signing.join(', ')}`);
      const newKid = flag('--kid') ?? `${alg.toLowerCase()}-${stamp.slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
      if (keys.some((k) => k.kid === newKid)) return refuse(out, `a key with kid "${newKid}" is already in ${file}`);
      const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
      keys.push({ ...(await exportJWK(privateKey)), kid: newKid, alg, use: 'sig' } as JWK);
      // Written out so the new key cannot start signing by its position in the file.
      document.keys = keys;
      document.active = active;
      rotation[newKid] = { published: stamp };
      await writeKeysFile(file, document);
      out(`published ${newKid} (${alg}) in ${file}; it does not sign yet.`);
      out(`next: roll the file out to every replica (each serves it at /jwks), wait ${publishAfter} s for cached JWKS to expire, then: fapi-gateway keys rotate activate ${newKid}`);
      return 0;
    }
    case 'activate': {
      const key = keys.find((k) => k.kid === kid);
      if (!kid || !key) return refuse(out, `no key "${kid ?? ''}" in ${file}`);
      if (active.includes(kid)) return refuse(out, `${kid} already signs`);
      const published = seconds(rotation[kid]?.published);
      if (published !== undefined && published < publishAfter && !force)
        return refuse(out, `${kid} was published ${Math.floor(published)} s ago: clients may still hold a JWKS without it (wait ${Math.ceil(publishAfter - published)} s more, or --force)`);
      const previous = active.filter((k) => keys.find((other) => other.kid === k)?.alg === key.alg);
      document.active = [...active.filter((k) => !previous.includes(k)), kid];
      rotation[kid] = { ...rotation[kid], activated: stamp };
      for (const old of previous) rotation[old] = { ...rotation[old], retired: stamp };
      await writeKeysFile(file, document);
      out(`${kid} signs ${key.alg} from now on${previous.length ? `; ${previous.join(', ')} stays published until its tokens expire` : ''}.`);
      if (previous.length) out(`next, after ${new Date(now().getTime() + retireAfter * 1000).toISOString()}: fapi-gateway keys rotate remove ${previous.join(' ')}`);
      return 0;
    }
    case 'remove': {
      const key = keys.find((k) => k.kid === kid);
      if (!kid || !key) return refuse(out, `no key "${kid ?? ''}" in ${file}`);
      if (active.includes(kid)) return refuse(out, `${kid} still signs: activate its successor first (fapi-gateway keys rotate activate NEW_KID)`);
      const retired = seconds(rotation[kid]?.retired);
      if (retired === undefined && !force) return refuse(out, `no record of when ${kid} stopped signing: tokens it signed may still be valid (--force if you know they have expired)`);
      if (retired !== undefined && retired < retireAfter && !force)
        return refuse(out, `${kid} stopped signing ${Math.floor(retired)} s ago: tokens it signed live up to ${retireAfter} s (wait ${Math.ceil(retireAfter - retired)} s more, or --force)`);
      document.keys = keys.filter((k) => k.kid !== kid);
      delete rotation[kid];
      await writeKeysFile(file, document);
      out(`removed ${kid} from ${file}; roll the file out to every replica.`);
      return 0;
    }
    default:
      return usage(out, `unknown rotation step "${step ?? ''}" (publish, activate, remove)`);
  }
}

/** The kids that sign: the file's `active`, else keys.active, else the first key of each algorithm (as the gateway chooses). */
function effectiveActive(document: KeysFileDocument, configured: string[] | undefined): string[] {
  if (document.active) return [...document.active];
  if (configured) return [...configured];
  const seen = new Set<string>();
  return (document.keys ?? []).filter((k) => k.alg && !seen.has(k.alg) && seen.add(k.alg)).map((k) => k.kid!);
}

/** Whole or not at all: a gateway watching the folder never reads half a file. */
async function writeKeysFile(file: string, document: KeysFileDocument): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, JSON.stringify(document, null, 2) + '\n', { mode: 0o600 });
    await rename(temporary, file);
  } catch (err) {
    throw new ConfigError('keys.signing', `cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); for a mounted Secret, work on a copy with --file and update the Secret from it`);
  }
}

function refuse(out: (line: string) => void, message: string): number {
  out(`refused: ${message}`);
  return 1;
}

function usage(out: (line: string) => void, message: string): number {
  out(`${message}\n${KEYS_USAGE}`);
  return 2;
}
