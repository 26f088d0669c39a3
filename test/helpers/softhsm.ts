import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { requireProgram } from './programs.js';
import { pkcs11js } from '../../src/keys/signers/pkcs11-token.js';
import { generateKeyPairInToken } from '../../src/keys/signers/pkcs11-generate.js';

/** Where Debian's softhsm2 puts the module. */
export const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'].find((f) => existsSync(f));

export interface SoftHsmToken {
  module: string;
  label: string;
  pin: string;
  /** Generates a key pair inside the token (private half sensitive and non-extractable, unless asked). */
  generate(alg: 'PS256' | 'ES256', label: string, options?: { extractable?: boolean }): Promise<void>;
}

/**
 * A fresh SoftHSM token in `dir` (SOFTHSM2_CONF points the library at it; set before the library is
 * first loaded in this process).
 */
export async function initSoftHsmToken(dir: string, label = 'fapi-gateway-test', pin = '246810'): Promise<SoftHsmToken> {
  await mkdir(path.join(dir, 'tokens'), { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579'], { env: process.env, stdio: 'pipe' });
  const module = SOFTHSM_MODULE!;
  return { module, label, pin, generate: (alg, keyLabel, options) => generateKeyPairInToken({ module, tokenLabel: label, pin }, alg, keyLabel, options) };
}

/**
 * A fresh SoftHSM token in a folder of this test process. Undefined, with the test skipped (or
 * failed under CI), where softhsm2 or pkcs11js is missing.
 */
export async function softHsmToken(t: Test): Promise<SoftHsmToken | undefined> {
  if (!requireProgram(t, 'softhsm2-util', 'apt-get install softhsm2')) return undefined;
  if (!SOFTHSM_MODULE) {
    if (process.env.CI === 'true') t.fail('libsofthsm2.so not found; CI must provide it');
    else t.pass('needs libsofthsm2.so', { skip: 'libsofthsm2.so not found (apt-get install softhsm2)' });
    return undefined;
  }
  try {
    await pkcs11js();
  } catch (err) {
    if (process.env.CI === 'true') t.fail(`pkcs11js did not install: ${(err as Error).message}`);
    else t.pass('needs pkcs11js', { skip: 'the optional package pkcs11js is not installed' });
    return undefined;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-softhsm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return initSoftHsmToken(dir);
}
