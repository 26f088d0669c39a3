import t from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { ConfigError } from '../src/config/config-error.js';
import { createContext } from '../src/app.js';
import { resolveConfig } from '../src/config/load.js';
import { fullFlow, userinfo } from './helpers/flow.js';
import { startGateway, testConfig, testPki } from './helpers/harness.js';
import { softHsmToken } from './helpers/softhsm.js';

const token = await softHsmToken(t);
if (token) {
  await token.generate('PS256', 'gateway-ps256');
  await token.generate('ES256', 'gateway-es256');
  await token.generate('ES256', 'exportable-es256', { extractable: true });
  process.env.FAPI_TEST_HSM_PIN = token.pin;

  const signer = (keys: { kid: string; alg: string; label: string }[] = [
    { kid: 'hsm-ps256-1', alg: 'PS256', label: 'gateway-ps256' },
    { kid: 'hsm-es256-1', alg: 'ES256', label: 'gateway-es256' },
  ]) => ({ type: 'pkcs11', module: token.module, tokenLabel: token.label, pin: { env: 'FAPI_TEST_HSM_PIN' }, keys });
  const withSigner = (config: Record<string, any>, settings: Record<string, unknown> = signer()) => {
    const { signing: _file, ...rest } = config.keys;
    config.keys = { ...rest, signer: settings };
  };

  t.test('a full flow signed in SoftHSM: tokens verify against the JWKS built from the public halves', async (t) => {
    const h = await startGateway({ configure: (config) => withSigner(config) });
    t.teardown(() => h.close());
    const jwks = JSON.parse((await h.get(`${h.issuer}/jwks`)).text) as { keys: JWK[] };
    t.same(jwks.keys.map((k) => k.kid).filter((kid) => kid!.startsWith('hsm-')), ['hsm-ps256-1', 'hsm-es256-1']);
    for (const key of jwks.keys) t.notOk('d' in key || 'p' in key, `no private member for ${key.kid}`);
    const keySet = createLocalJWKSet(jwks);

    const { tokens } = await fullFlow(h);
    const access = await jwtVerify(tokens.access_token, keySet, { issuer: h.issuer, typ: 'at+jwt' });
    t.equal(access.protectedHeader.kid, 'hsm-ps256-1', 'the access token is signed PS256 by the token');
    const idToken = await jwtVerify(tokens.id_token, keySet, { issuer: h.issuer, audience: 'client-one' });
    t.match(idToken.protectedHeader.kid, /^hsm-/, `the ID token too (${idToken.protectedHeader.alg})`);
    t.equal((await userinfo(h, tokens.access_token)).status, 200, 'the gateway accepts its own HSM-signed token');

    // The ES256 key: CKM_ECDSA over the SHA-256 digest, r||s as JWS wants it.
    const es256 = h.gateway.context.keys.signingKey(['ES256'])!;
    const jws = await es256.signJwt({ iss: h.issuer, probe: 'es256' }, { typ: 'JWT' });
    t.same(decodeProtectedHeader(jws), { typ: 'JWT', alg: 'ES256', kid: 'hsm-es256-1' });
    t.equal((await jwtVerify(jws, keySet)).payload.probe, 'es256', 'an ES256 signature from the token verifies');
    // Concurrent signatures share the token's sessions and run on libuv's pool at once: a library
    // initialized without locking (C_Initialize with no arguments) corrupted its heap here within a
    // few hundred signatures and aborted the process.
    let signed = 0;
    for (let round = 0; round < 25; round++) {
      const many = await Promise.all(Array.from({ length: 40 }, (_, i) => h.gateway.context.keys.signingKey([i % 2 ? 'ES256' : 'PS256'])!.signJwt({ i })));
      if (round === 0) for (const jws of many) await jwtVerify(jws, keySet);
      signed += many.length;
    }
    t.equal(signed, 1000, '1,000 signatures, 40 at a time, and the first 40 verify');
  });

  t.test('a bad HSM config fails at start naming the key path', async (t) => {
    const { dir, pki } = await testPki();
    const attempt = async (settings: Record<string, unknown>) => {
      const config = await testConfig(pki);
      withSigner(config, settings);
      return createContext(await resolveConfig(config, dir, {}));
    };
    const base = signer();
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['an unknown label', { ...base, keys: [{ kid: 'k', alg: 'PS256', label: 'nowhere' }] }, /^keys\.signer\.keys\[0\]\.label: no private key labelled "nowhere"/],
      ['an extractable key', { ...base, keys: [{ kid: 'k', alg: 'ES256', label: 'exportable-es256' }] }, /^keys\.signer\.keys\[0\]\.label: .*extractable/],
      ['an alg the key does not have', { ...base, keys: [{ kid: 'k', alg: 'PS256', label: 'gateway-es256' }] }, /^keys\.signer\.keys\[0\]\.alg: .*not an RSA key/],
      ['a PIN variable not set', { ...base, pin: { env: 'FAPI_TEST_NO_SUCH_PIN' } }, /^keys\.signer\.pin\.env: /],
      ['a PIN file missing', { ...base, pin: { file: '/nonexistent/pin' } }, /^keys\.signer\.pin\.file: cannot read/],
      ['an unknown token', { ...base, tokenLabel: 'no-such-token' }, /^keys\.signer\.tokenLabel: no token labelled "no-such-token"/],
      ['a module that is not there', { ...base, module: '/nonexistent/libpkcs11.so' }, /^keys\.signer\.module: cannot load/],
      ['an active kid not configured', base, /^keys\.active: no key with kid "elsewhere"/],
    ];
    for (const [name, settings, expected] of cases) {
      const run =
        name === 'an active kid not configured'
          ? (async () => {
              const config = await testConfig(pki);
              withSigner(config, settings);
              config.keys.active = ['elsewhere'];
              return createContext(await resolveConfig(config, dir, {}));
            })()
          : attempt(settings);
      const err = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(err instanceof ConfigError, `${name}: a ConfigError`);
      t.match((err as Error).message, expected, name);
    }
    const wrongPin = await (async () => {
      process.env.FAPI_TEST_WRONG_PIN = '000000';
      return attempt({ ...base, pin: { env: 'FAPI_TEST_WRONG_PIN' } });
    })().catch((e: Error) => e);
    // SoftHSM logs in once per process: a wrong PIN is only refused while no session is logged in.
    if (wrongPin instanceof Error) t.match(wrongPin.message, /^keys\.signer\.pin: the token refused the PIN/);
    else t.pass('already logged in: the wrong PIN was not asked for');
  });
}

t.test('keys.signing and keys.signer are exclusive, and one is needed', async (t) => {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  config.keys.signer = { type: 'pkcs11', module: '/x.so', tokenLabel: 't', pin: { env: 'X' }, keys: [{ kid: 'k', alg: 'PS256', label: 'l' }] };
  await t.rejects(resolveConfig(config, dir, {}), /keys\.signer: give either keys\.signing .* or keys\.signer/);
  delete config.keys.signer;
  delete config.keys.signing;
  await t.rejects(resolveConfig(config, dir, {}), /keys\.signing: is required/);
  config.keys.signer = { type: 'pkcs11', module: '/x.so', pin: { env: 'X' }, keys: [{ kid: 'k', alg: 'RS256', label: 'l' }] };
  await t.rejects(resolveConfig(config, dir, {}), /keys\.signer\.keys\[0\]\.alg/);
});
