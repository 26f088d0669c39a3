import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { requireProgram } from './programs.js';
import { pkcs11js } from '../../src/keys/signers/pkcs11-token.js';
import { P256_EC_PARAMS } from '../../src/keys/signers/pkcs11-keys.js';

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
 * A fresh SoftHSM token in a folder of this test process (SOFTHSM2_CONF points the library at it;
 * set before the library is first loaded). Undefined, with the test skipped (or failed under CI),
 * where softhsm2 or pkcs11js is missing.
 */
export async function softHsmToken(t: Test): Promise<SoftHsmToken | undefined> {
  if (!requireProgram(t, 'softhsm2-util', 'apt-get install softhsm2')) return undefined;
  if (!SOFTHSM_MODULE) {
    if (process.env.CI === 'true') t.fail('libsofthsm2.so not found; CI must provide it');
    else t.pass('needs libsofthsm2.so', { skip: 'libsofthsm2.so not found (apt-get install softhsm2)' });
    return undefined;
  }
  let lib: Awaited<ReturnType<typeof pkcs11js>>;
  try {
    lib = await pkcs11js();
  } catch (err) {
    if (process.env.CI === 'true') t.fail(`pkcs11js did not install: ${(err as Error).message}`);
    else t.pass('needs pkcs11js', { skip: 'the optional package pkcs11js is not installed' });
    return undefined;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-softhsm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const label = 'fapi-gateway-test';
  const pin = '246810';
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579'], { env: process.env, stdio: 'pipe' });

  const module = new lib.PKCS11();
  module.load(SOFTHSM_MODULE);
  module.C_Initialize();
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === label)!;
  const session = module.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
  module.C_Login(session, lib.CKU_USER, pin);
  return {
    module: SOFTHSM_MODULE,
    label,
    pin,
    async generate(alg, keyLabel, options = {}) {
      const common = [
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_LABEL, value: keyLabel },
      ];
      const privateTemplate = [
        ...common,
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: !options.extractable },
        { type: lib.CKA_EXTRACTABLE, value: options.extractable ?? false },
        { type: lib.CKA_SIGN, value: true },
      ];
      if (alg === 'PS256')
        module.C_GenerateKeyPair(
          session,
          { mechanism: lib.CKM_RSA_PKCS_KEY_PAIR_GEN },
          [...common, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_MODULUS_BITS, value: 2048 }, { type: lib.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
          privateTemplate,
        );
      else
        module.C_GenerateKeyPair(session, { mechanism: lib.CKM_EC_KEY_PAIR_GEN }, [...common, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_EC_PARAMS, value: P256_EC_PARAMS }], privateTemplate);
    },
  };
}
