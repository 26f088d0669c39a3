import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { resolveConfig } from '../src/config/load.js';
import { keysCommand } from '../src/keys/rotate-cli.js';
import { SigningKeys } from '../src/keys/signing-keys.js';
import { testConfig, testPki } from './helpers/harness.js';

t.test('keys rotate: publish, activate, remove, each step checked against the times recorded', async (t) => {
  const { dir, pki } = await testPki();
  const file = path.join(dir, 'rotate-signing.jwks.json');
  await copyFile(pki.signingKeys, file);
  const raw = await testConfig(pki);
  raw.keys = { ...raw.keys, signing: file };
  const { config, profile } = await resolveConfig(raw, dir, {});
  let clock = Date.parse('2026-12-02T10:00:00Z');
  const lines: string[] = [];
  const run = (...args: string[]) => keysCommand(args, { config, profile, out: (line) => lines.push(line), now: () => new Date(clock) });
  const keys = await SigningKeys.load(config.keys, profile);
  const signer = (alg: string) => keys.signingKey([alg])!.kid;
  const document = async () => JSON.parse(await readFile(file, 'utf8'));
  const oldPs256 = signer('PS256');

  t.equal(await run('rotate', 'publish', '--alg', 'RS256'), 2, 'an algorithm outside the profile is refused');
  t.equal(await run('rotate', 'publish', '--alg', 'PS256', '--kid', 'ps256-next'), 0, lines.join('\n'));
  t.ok(await keys.reload(), 'the gateway takes the published key');
  t.ok(JSON.parse(keys.publicJwksJson).keys.some((k: { kid: string }) => k.kid === 'ps256-next'), 'it is in the JWKS');
  t.equal(signer('PS256'), oldPs256, 'and does not sign yet');
  t.ok(JSON.stringify(await document()).includes('"d":'), 'the private key is in the file (a secret)');

  lines.length = 0;
  t.equal(await run('rotate', 'activate', 'ps256-next'), 1, 'activating at once is refused: cached JWKS may lack the key');
  t.match(lines.join('\n'), /published 0 s ago/);
  clock += 361_000;
  t.equal(await run('rotate', 'remove', oldPs256), 1, 'the key that signs cannot be removed');
  t.equal(await run('rotate', 'activate', 'ps256-next'), 0);
  await keys.reload();
  t.equal(signer('PS256'), 'ps256-next', 'the new key signs');
  t.ok(keys.verificationKey(oldPs256), 'the old key is still published for verification');
  t.equal(signer('ES256'), (await document()).active.find((kid: string) => kid.startsWith('dev-es256')), 'the other algorithm is untouched');

  lines.length = 0;
  t.equal(await run('rotate', 'remove', oldPs256), 1, 'removing before its tokens expire is refused');
  t.match(lines.join('\n'), /stopped signing 0 s ago: tokens it signed live up to/);
  clock += (Math.max(profile.lifetimes.accessToken, profile.lifetimes.idToken) + 61) * 1000;
  lines.length = 0;
  t.equal(await run('status'), 0);
  t.match(lines.join('\n'), new RegExp(`${oldPs256}\\tPS256\\tpublished.*retired`));
  t.equal(await run('rotate', 'remove', oldPs256), 0);
  await keys.reload();
  t.notOk(keys.verificationKey(oldPs256), 'the old key has left the JWKS');
  t.equal(await run('rotate', 'remove', 'dev-es256-1'), 1, 'an active key of another algorithm stays');
  t.equal(await run('rotate', 'frobnicate'), 2);
});
