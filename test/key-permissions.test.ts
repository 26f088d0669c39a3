// Private key files readable by others are warned about at start, naming the file and its mode.
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { keyFileWarning } from '../src/keys/key-file-permissions.js';
import { startGateway } from './helpers/harness.js';

const posix = process.platform !== 'win32';

t.test('keyFileWarning', { skip: !posix && 'file modes are POSIX' }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-key-mode-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'key.pem');
  await writeFile(file, 'key', { mode: 0o600 });
  await chmod(file, 0o600);
  t.equal(await keyFileWarning(file, 'tls.key'), undefined, 'owner only: no warning');
  await chmod(file, 0o644);
  const warning = await keyFileWarning(file, 'tls.key');
  t.match(warning, { keyPath: 'tls.key', file, mode: '644' });
  t.match(warning?.message, /tls\.key.*key\.pem.*644.*all users/);
  t.equal(await keyFileWarning(path.join(dir, 'missing.pem'), 'tls.key'), undefined, 'a missing file is left to the reader to report');
});

t.test('the gateway starts with readable key files and warns about each', { skip: !posix && 'file modes are POSIX' }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-key-mode-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tlsKey = path.join(dir, 'tls.key');
  const signing = path.join(dir, 'signing.jwks.json');
  const h = await startGateway({
    async configure(config) {
      await copyFile(config.tls.key, tlsKey);
      await copyFile(config.keys.signing, signing);
      await chmod(tlsKey, 0o644);
      await chmod(signing, 0o604);
      config.tls.key = tlsKey;
      config.keys.signing = signing;
    },
  });
  t.teardown(() => h.close());
  const warnings = h.logs.map((line) => JSON.parse(line)).filter((entry) => entry.event === 'key_file_readable');
  t.equal(warnings.length, 2, 'one warning per file');
  t.match(warnings.find((w) => w.keyPath === 'tls.key'), { level: 'warn', file: tlsKey, mode: '644', msg: /tls\.key/ });
  t.match(warnings.find((w) => w.keyPath === 'keys.signing'), { level: 'warn', file: signing, mode: '604', msg: /keys\.signing/ });
  const discovery = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  t.equal(discovery.status, 200, 'the gateway runs all the same');
});
