// Request object settings: client metadata and server encryption keys outside the profile fail at
// start naming their key path; a policy may not loosen `requestObject`; the baseline profile neither
// takes request objects nor publishes encryption keys; with `optional`, a client that registered
// require_signed_request_object (RFC 9101 §10.5) must send one while others need not.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { resolveConfig } from '../src/config/load.js';
import { pkce } from './helpers/flow.js';
import { parForm, startGateway, testConfig, testPki, type ClientName, type Harness } from './helpers/harness.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

let dir: string;
t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-ro-config-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function configError(t: Tap, edit: (config: Record<string, any>) => void | Promise<void>): Promise<ConfigError> {
  const { pki, dir: pkiDir } = await testPki();
  const config = await testConfig(pki);
  await edit(config);
  try {
    const ctx = await createContext(await resolveConfig(config, pkiDir, {}));
    await ctx.store.close();
  } catch (err) {
    t.type(err, ConfigError, 'a ConfigError');
    return err as ConfigError;
  }
  t.fail('the config was accepted');
  return new ConfigError('', '');
}

t.test('client request object metadata outside the profile fails naming the key', async (t) => {
  const onSigning = (edit: (c: Record<string, any>) => void) => (config: Record<string, any>) => {
    config.profile = 'fapi2-message-signing';
    edit(config.clients[0]);
  };
  t.equal((await configError(t, onSigning((c) => (c.request_object_signing_alg = 'RS256')))).keyPath, 'clients[0].request_object_signing_alg');
  t.equal((await configError(t, onSigning((c) => (c.request_object_signing_alg = 'none')))).keyPath, 'clients[0].request_object_signing_alg');
  t.equal((await configError(t, onSigning((c) => (c.request_object_encryption_alg = 'RSA1_5')))).keyPath, 'clients[0].request_object_encryption_alg');
  t.equal((await configError(t, onSigning((c) => Object.assign(c, { request_object_encryption_alg: 'RSA-OAEP-256', request_object_encryption_enc: 'A128CBC-HS256' })))).keyPath, 'clients[0].request_object_encryption_enc');
  t.equal((await configError(t, onSigning((c) => (c.request_object_encryption_enc = 'A256GCM')))).keyPath, 'clients[0].request_object_encryption_enc');
  t.equal((await configError(t, onSigning((c) => (c.require_signed_request_object = 'yes')))).keyPath, 'clients[0].require_signed_request_object');
  // The baseline takes no request objects: asking for them is a mistake, not silently ignored.
  t.equal((await configError(t, (config) => void (config.clients[0].require_signed_request_object = true))).keyPath, 'clients[0].require_signed_request_object');
  // A tls_client_auth client that must sign request objects needs keys to verify them.
  t.equal((await configError(t, (config) => {
    config.profile = 'fapi2-message-signing';
    delete config.clients[1].jwks;
  })).keyPath, 'clients[1].jwks');
});

t.test('a policy may tighten requestObject, never loosen it', async (t) => {
  const err = await configError(t, (config) => {
    config.profile = 'fapi2-message-signing';
    config.policy = { requestObject: 'optional' };
  });
  t.equal(err.keyPath, 'policy.requestObject');
  const alg = await configError(t, (config) => {
    config.profile = 'fapi2-message-signing';
    config.policy = { algorithms: { requestObject: ['PS256', 'RS256'] } };
  });
  t.match(alg.keyPath, /^policy\.algorithms\.requestObject/);
});

async function keysFile(keys: JWK[]): Promise<string> {
  const file = path.join(dir, `${randomUUID()}.json`);
  await writeFile(file, JSON.stringify({ keys }), { mode: 0o600 });
  return file;
}

t.test('server encryption keys are checked at start', async (t) => {
  const rsa = await exportJWK((await generateKeyPair('RSA-OAEP-256', { extractable: true })).privateKey);
  const cases: [string, JWK[], RegExp][] = [
    ['RSA1_5', [{ ...rsa, kid: 'a', alg: 'RSA1_5' }], /"alg" must be one of/],
    ['no kid', [{ ...rsa, alg: 'RSA-OAEP-256' }], /kid/],
    ['use sig', [{ ...rsa, kid: 'a', alg: 'RSA-OAEP-256', use: 'sig' }], /"use" must be "enc"/],
    ['public only', [{ kty: rsa.kty, n: rsa.n, e: rsa.e, kid: 'a', alg: 'RSA-OAEP-256' }], /private key/],
  ];
  for (const [why, keys, message] of cases) {
    const file = await keysFile(keys);
    const err = await configError(t, (config) => {
      config.profile = 'fapi2-message-signing';
      config.keys.encryption = file;
    });
    t.match(err.keyPath, /^keys\.encryption/, why);
    t.match(err.problem, message, why);
  }
});

t.test('the baseline profile: no request objects, no encryption keys published, discovery as before', async (t) => {
  const h = await startGateway();
  t.teardown(() => h.close());
  const doc = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.equal(doc.request_parameter_supported, false);
  for (const key of ['require_signed_request_object', 'request_object_signing_alg_values_supported', 'request_object_encryption_alg_values_supported', 'acr_values_supported'])
    t.notOk(key in doc, `no ${key}`);
  const jwks = (await h.get(`${h.issuer}/jwks`)).json;
  t.notOk(jwks.keys.some((k: JWK) => k.use === 'enc'), 'no encryption key published');
  const res = await h.post('/par', { ...parForm(), request: 'eyJhbGciOiJQUzI1NiJ9.e30.c2ln', ...(await h.assertionForm()) });
  t.equal(res.json?.error, 'request_not_supported', 'request is answered as before');
});

t.test('requestObject optional: a client registered require_signed_request_object must send one', async (t) => {
  const h: Harness = await startGateway({
    configure(config) {
      config.policy = { requestObject: 'optional' };
      config.clients[1].require_signed_request_object = true;
      config.clients[1].request_object_signing_alg = 'ES256';
    },
  });
  t.teardown(() => h.close());
  const doc = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.equal(doc.request_parameter_supported, true);
  t.equal(doc.require_signed_request_object, false);

  const signed = async (name: ClientName) => {
    const jwk = JSON.parse(await readFile(h.pki.clients[name].jwk, 'utf8')) as JWK;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: name, aud: h.issuer, client_id: name, nbf: now, exp: now + 60, response_type: 'code', redirect_uri: DEMO_REDIRECT_URI, scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256' })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid })
      .sign(await importJWK(jwk, jwk.alg));
  };
  const unsignedOne = await h.post('/par', { ...parForm(), ...(await h.assertionForm()) });
  t.equal(unsignedOne.status, 201, 'client-one may still push a form');
  const signedOne = await h.post('/par', { client_id: 'client-one', request: await signed('client-one'), ...(await h.assertionForm()) });
  t.equal(signedOne.status, 201, 'and may push a request object');
  const unsignedTwo = await h.post('/par', parForm({ client_id: 'client-two' }), { client: 'client-two' });
  t.equal(unsignedTwo.status, 400);
  t.equal(unsignedTwo.json?.error, 'invalid_request', 'client-two must sign');
  const signedTwo = await h.post('/par', { client_id: 'client-two', request: await signed('client-two') }, { client: 'client-two' });
  t.equal(signedTwo.status, 201, `client-two's signed request: ${signedTwo.text}`);
});
