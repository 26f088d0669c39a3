// The parts of DPoP that need no gateway: htu normalisation (RFC 9449 §4.3), stateless nonces that
// rotate and overlap and that every replica with the key accepts, the bounded proof-key cache; and,
// with two gateways on one store and one nonce key, that replicas agree on nonces and replays.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PROFILES_DIR } from '../src/config/profile.js';
import { request } from 'undici';
import { normalizeHtu } from '../src/dpop/htu.js';
import { DpopNonces } from '../src/dpop/nonce.js';
import { ProofKeyCache } from '../src/dpop/proof-keys.js';
import { createContext } from '../src/app.js';
import { resolveConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/config-error.js';
import { MemoryStore } from '../src/store/memory.js';
import { startGateway, readResponse, parForm, testConfig, testPki } from './helpers/harness.js';
import { dpopKey, proof } from './helpers/dpop.js';

t.test('htu normalisation: case, default port, dot segments, percent-encoding; query and fragment dropped', async (t) => {
  const same = 'https://as.example/token';
  for (const form of ['https://as.example/token', 'HTTPS://AS.EXAMPLE/token', 'https://as.example:443/token', 'https://as.example/token?x=1', 'https://as.example/token#f', 'https://as.example/a/../token', 'https://as.example/%74oken'])
    t.equal(normalizeHtu(form), same, form);
  t.equal(normalizeHtu('https://as.example/a%2fb'), 'https://as.example/a%2Fb', 'reserved escapes kept, upper-cased');
  t.not(normalizeHtu('https://as.example/Token'), same, 'the path is case-sensitive');
  t.not(normalizeHtu('https://as.example:8443/token'), same, 'another port');
  t.not(normalizeHtu('http://as.example/token'), same, 'another scheme');
  for (const bad of ['', 'token', 'ftp://as.example/token', 'https://'] as const) t.equal(normalizeHtu(bad), undefined, `"${bad}" is not an htu`);
});

t.test('nonces: valid in their window and the next, not after; any holder of the key agrees; another key does not', async (t) => {
  let now = 1_000_000_000_000;
  const a = new DpopNonces('k'.repeat(32), 60, () => now);
  const b = new DpopNonces('k'.repeat(32), 60, () => now);
  const other = new DpopNonces('o'.repeat(32), 60, () => now);
  const nonce = a.current();
  t.ok(a.valid(nonce) && b.valid(nonce), 'both replicas accept it');
  t.notOk(other.valid(nonce), 'another key does not');
  now += 60_000;
  t.not(a.current(), nonce, 'a new nonce in the next window');
  t.ok(b.valid(nonce), 'the previous window still accepted (overlap)');
  now += 60_000;
  t.notOk(b.valid(nonce), 'two windows later: refused');
  for (const bad of [undefined, 1, '', 'x', '1.', `${Math.floor(now / 60000)}.AAAA`, 'a'.repeat(100)]) t.notOk(a.valid(bad), `refused: ${String(bad).slice(0, 20)}`);
});

t.test('proof keys: private, symmetric and weak keys refused; the cache is bounded', async (t) => {
  const cache = new ProofKeyCache(2);
  const key = await dpopKey();
  t.ok(await cache.import(key.jwk, 'ES256'));
  t.equal((await cache.import(key.jwk, 'ES256'))?.jkt, key.jkt, 'the thumbprint');
  t.notOk(await cache.import({ ...key.jwk, d: 'x' }, 'ES256'), 'a private member');
  t.notOk(await cache.import({ kty: 'oct', k: 'c2VjcmV0' }, 'HS256'), 'a symmetric key');
  t.notOk(await cache.import(key.jwk, 'PS256'), 'a key that is not for the alg');
  t.notOk(await cache.import('not a key', 'ES256'));
  for (let i = 0; i < 5; i++) await cache.import((await dpopKey()).jwk, 'ES256');
  t.equal(cache.size, 2, 'at most maxEntries');
});

t.test('nonces required with a shared Redis store need a shared key (ConfigError naming dpop.nonceKey)', async (t) => {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  config.store = { type: 'redis', url: 'redis://127.0.0.1:1' };
  config.policy = { dpop: { nonce: 'required' } };
  const loaded = await resolveConfig(config, dir, {});
  const failure = await createContext(loaded).then(() => undefined, (err: unknown) => err);
  t.ok(failure instanceof ConfigError, 'a ConfigError');
  t.equal((failure as ConfigError).keyPath, 'dpop.nonceKey');
});

t.test('a policy may require nonces but not switch off nonces a profile requires', async (t) => {
  const { dir, pki } = await testPki();
  const strict = path.join(dir, 'strict-dpop.yaml');
  await writeFile(strict, (await readFile(path.join(PROFILES_DIR, 'fapi2.yaml'), 'utf8')).replace('nonce: off', 'nonce: required'));
  const config = await testConfig(pki);
  config.profile = strict;
  config.policy = { dpop: { nonce: 'off' } };
  const failure = await resolveConfig(config, dir, {}).then(() => undefined, (err: unknown) => err);
  t.ok(failure instanceof ConfigError, 'a ConfigError');
  t.equal((failure as ConfigError).keyPath, 'policy.dpop.nonce');
  const tightened = await testConfig(pki);
  tightened.policy = { dpop: { nonce: 'required', maxAgeSeconds: 30 } };
  t.equal((await resolveConfig(tightened, dir, {})).profile.dpop?.nonce, 'required', 'fapi2 tightened to required');
  const looser = await testConfig(pki);
  looser.policy = { dpop: { maxAgeSeconds: 120 } };
  t.equal((await resolveConfig(looser, dir, {}).then(() => undefined, (err: unknown) => err) as ConfigError).keyPath, 'policy.dpop.maxAgeSeconds', 'a longer proof age is looser');
});

t.test('where a profile accepts the endpoint URL as assertion aud, the public listener\'s URLs count', async (t) => {
  const { dir } = await testPki();
  const wide = path.join(dir, 'endpoint-aud.yaml');
  await writeFile(wide, (await readFile(path.join(PROFILES_DIR, 'fapi2.yaml'), 'utf8')).replace('audience: [issuer]', 'audience: [issuer, token_endpoint, endpoint]'));
  const h = await startGateway({ configure: (config) => void (config.profile = wide) });
  t.teardown(() => h.close());
  const key = await dpopKey();
  for (const [path, aud] of [['/par', `${h.issuer}/par`], ['/token', `${h.issuer}/token`], ['/token', `${h.mtlsBase}/token`]] as const) {
    const form = path === '/par' ? parForm() : { grant_type: 'client_credentials', scope: 'accounts' };
    const res = await readResponse(await request(`${h.issuer}${path}`, {
      method: 'POST',
      body: new URLSearchParams({ ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await h.assertion({ aud }) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}${path}` }) },
      dispatcher: h.agent(),
    }));
    t.ok(res.status === 200 || res.status === 201, `${path} with aud ${aud}: ${res.status} ${res.json?.error ?? ''}`);
  }
});

t.test('two replicas on one store and one key: each accepts the other\'s nonce and refuses the other\'s replay', async (t) => {
  const store = new MemoryStore();
  const configure = (config: Record<string, any>) => {
    config.policy = { dpop: { nonce: 'required' } };
    config.dpop = { nonceKey: 'a-shared-key-of-at-least-32-characters' };
  };
  const a = await startGateway({ configure, gatewayOptions: { store } });
  const b = await startGateway({ configure, gatewayOptions: { store } });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const key = await dpopKey();
  const tokenAt = async (h: typeof a, dpop: string) =>
    readResponse(await request(`${h.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'accounts', ...(await h.assertionForm()) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
      dispatcher: h.agent(),
    }));
  const asked = await tokenAt(a, await proof(key, { htm: 'POST', htu: `${a.issuer}/token` }));
  t.equal(asked.json.error, 'use_dpop_nonce');
  const nonce = String(asked.headers['dpop-nonce']);
  const atB = await tokenAt(b, await proof(key, { htm: 'POST', htu: `${b.issuer}/token`, nonce }));
  t.equal(atB.status, 200, `B accepts A's nonce (${atB.json?.error ?? "issued"})`);
  // Same host name, other port: a proof for B's URL replayed at B after A saw one with the same jti.
  const once = await proof(key, { htm: 'POST', htu: `${b.issuer}/token`, nonce, claims: { jti: 'shared-jti' } });
  t.equal((await tokenAt(b, once)).status, 200);
  const replayAtB = await tokenAt(b, once);
  t.equal(replayAtB.json.error, 'invalid_dpop_proof', 'replay refused');
  const sameJtiAtA = await tokenAt(a, await proof(key, { htm: 'POST', htu: `${a.issuer}/token`, nonce, claims: { jti: 'shared-jti' } }));
  t.equal(sameJtiAtA.json.error, 'invalid_dpop_proof', 'the jti seen by B is refused by A: one replay cache');
});
