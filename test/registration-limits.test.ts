/**
 * What bounds registration: the `registration:` block's errors name their key path; what an
 * anonymous caller can make the gateway store is limited (number of clients, rate, body size); the
 * guarded fetcher never reaches a private address unless allowed; registration is off by default.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BlockList } from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { outboundFetch, refusedAddress } from '../src/http/outbound-fetch.js';
import { discoveryDocument } from '../src/oauth/discovery.js';
import { readResponse, startGateway, testConfig, testPki, type Harness } from './helpers/harness.js';
import { clientKeys, sha256Hex } from './helpers/directory.js';

const TOKEN = `iat-${randomUUID()}`;

/** The type of a subtest's `t`. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

async function configError(t: Tap, edit: (config: Record<string, any>) => void): Promise<ConfigError | undefined> {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  edit(config);
  try {
    const ctx = await createContext(await resolveConfig(config, dir, {}));
    await ctx.store.close();
  } catch (err) {
    t.type(err, ConfigError);
    return err as ConfigError;
  }
  t.fail('the config was accepted');
}

t.test('a bad registration block fails at start naming the key path', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp?]> = [
    ['enabled with nothing vouching for registrations', { enabled: true }, 'registration', /open registration is not offered/],
    ['a directory without keys', { enabled: true, directories: [{ issuer: 'https://d.example' }] }, 'registration.directories[0]', /exactly one of jwksFile, jwksUri/],
    ['a directory key file that is not there', { enabled: true, directories: [{ issuer: 'https://d.example', jwksFile: '/nonexistent/jwks.json' }] }, 'registration.directories[0].jwksFile', /ENOENT/],
    ['a directory URL over http', { enabled: true, directories: [{ issuer: 'https://d.example', jwksUri: 'http://d.example/jwks' }] }, 'registration.directories[0].jwksUri'],
    ['an initial access token hash that is not SHA-256 hex', { enabled: true, initialAccessTokenSha256: ['secret'] }, 'registration.initialAccessTokenSha256[0]'],
    ['an address block that is not one', { enabled: true, initialAccessTokenSha256: [sha256Hex('x')], allowPrivateAddresses: ['10.0.0.0/99'] }, 'registration.allowPrivateAddresses[0]'],
    ['no room for clients', { maxClients: 0 }, 'registration.maxClients'],
    ['an unknown key', { enable: true }, 'registration.enable'],
  ];
  for (const [name, block, keyPath, problem] of cases) {
    const err = await configError(t, (c) => void (c.registration = block));
    t.equal(err?.keyPath, keyPath, `${name}: ${keyPath}`);
    if (problem) t.match(err?.problem, problem);
  }
  const looser = await configError(t, (c) => void (c.policy = { registration: { requestFormats: ['json', 'jwt'], softwareStatementMaxAgeSeconds: 3600 } }));
  t.equal(looser?.keyPath, 'policy.registration.softwareStatementMaxAgeSeconds', 'a policy may not allow older statements than the profile');
});

t.test('off by default: no registration endpoint in discovery', async (t) => {
  const { dir, pki } = await testPki();
  const ctx = await createContext(await resolveConfig(await testConfig(pki), dir, {}));
  await ctx.store.close();
  t.notOk('registration_endpoint' in discoveryDocument(ctx));
  t.same(discoveryDocument(ctx).scopes_supported, ['openid', 'profile', 'email', 'accounts', 'transactions'], 'scopes from the config clients');
});

t.test('the guarded fetcher: no private address, no plain http, no oversized answer', async (t) => {
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1'])
    t.ok(refusedAddress(address, {}), `${address} is refused`);
  for (const address of ['93.184.216.34', '::ffff:5db8:d822', '2606:2800:220:1:248:1893:25c8:1946']) t.notOk(refusedAddress(address, {}), `${address} is allowed`);
  const loopback = new BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  t.notOk(refusedAddress('127.0.0.1', { allowedPrivate: loopback }), 'an allowed private block is allowed');
  t.ok(refusedAddress('10.0.0.1', { allowedPrivate: loopback }), 'and only that one');

  const fetch = outboundFetch({ maxBytes: 100, timeoutMs: 2_000 });
  await t.rejects(fetch('http://example.com/jwks.json'), /only https/);
  await t.rejects(fetch('https://127.0.0.1:1/jwks.json'), /not a public address/);
  await t.rejects(fetch('https://[::1]:1/jwks.json'), /not a public address/);
  await t.rejects(fetch('https://localhost:1/jwks.json'), /not a public address/, 'a name that resolves to loopback');
});

t.test('an anonymous caller is bounded: body size, number of clients, rate', async (t) => {
  let h: Harness | undefined;
  t.teardown(() => h?.close());
  h = await startGateway({
    configure: (c) => {
      c.registration = { enabled: true, initialAccessTokenSha256: [sha256Hex(TOKEN)], maxClients: 2, maxBodyBytes: 4096, rateLimit: { perIpPerMinute: 6, perMinute: 100 } };
    },
  });
  const agent = new Agent({ connect: { ca: h.ca, cert: await readFile(h.pki.clients['client-one'].cert), key: await readFile(h.pki.clients['client-one'].key) } });
  t.teardown(() => agent.close());
  const register = async (body: unknown, token: string | null = TOKEN) =>
    readResponse(await request(`${h!.mtlsBase}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      dispatcher: agent,
    }));
  const metadata = async () => ({ token_endpoint_auth_method: 'private_key_jwt', redirect_uris: ['https://tpp.example/cb'], jwks: (await clientKeys()).jwks });

  const noToken = await register(await metadata(), null);
  t.equal(noToken.status, 401, 'without an initial access token (and no directory trusted)');
  t.equal(noToken.json.error, 'invalid_token');
  const statement = await register({ ...(await metadata()), software_statement: 'eyJhbGciOiJub25lIn0.e30.' });
  t.equal(statement.json.error, 'unapproved_software_statement', 'a statement when no directory is trusted');
  const big = await register({ ...(await metadata()), client_name: 'x'.repeat(5000) });
  t.equal(big.status, 413, 'a body over registration.maxBodyBytes');

  t.equal((await register(await metadata())).status, 201, 'first client');
  t.equal((await register(await metadata())).status, 201, 'second client');
  const full = await register(await metadata());
  t.equal(full.status, 503, 'past registration.maxClients: 503');
  t.equal(full.json.error, 'temporarily_unavailable');
  t.ok(Number(full.headers['retry-after']) > 0, 'with Retry-After');
  t.equal([...(await h.gateway.context.store.members('registered-clients'))].length, 2, 'nothing more was stored');

  const limited = await register(await metadata());
  t.equal(limited.status, 429, 'past the per-address rate');
  t.equal(limited.json.error, 'slow_down');
  t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
});

t.test('any registration body gets a well-formed answer: never a 5xx, always no-store JSON', async (t) => {
  let h: Harness | undefined;
  t.teardown(() => h?.close());
  h = await startGateway({
    configure: (c) => {
      c.registration = { enabled: true, initialAccessTokenSha256: [sha256Hex(TOKEN)], maxClients: 100_000, rateLimit: { perIpPerMinute: 1_000_000, perMinute: 1_000_000 } };
      // JSON registration requests only (the profile allows signed ones too).
      c.policy = { registration: { requestFormats: ['json'] } };
    },
  });
  const agent = new Agent({ connect: { ca: h.ca, cert: await readFile(h.pki.clients['client-one'].cert), key: await readFile(h.pki.clients['client-one'].key) } });
  t.teardown(() => agent.close());
  const { jwks } = await clientKeys();
  const valid: Record<string, unknown> = { token_endpoint_auth_method: 'private_key_jwt', redirect_uris: ['https://tpp.example/cb'], jwks, scope: 'openid', grant_types: ['authorization_code'] };
  const members = [...Object.keys(valid), 'jwks_uri', 'tls_client_auth_subject_dn', 'software_statement', 'client_id', 'response_types', 'token_endpoint_auth_signing_alg', 'contacts'];
  const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('https://10.0.0.1/j', 'https://[::1', 'CN=x', '=', 'none', 'eyJhbGciOiJub25lIn0.e30.'));
  const body = fc.oneof(
    // The valid metadata with some members replaced or removed.
    fc.dictionary(fc.constantFrom(...members), fc.option(anyValue), { maxKeys: 4 }).map((changes) => {
      const metadata: Record<string, unknown> = { ...valid };
      for (const [k, v] of Object.entries(changes)) if (v === null) delete metadata[k]; else metadata[k] = v;
      return { type: 'application/json', text: JSON.stringify(metadata) };
    }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', text: JSON.stringify(v) ?? '' })),
    fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/jwt', text: s })),
    fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/json', text: s })),
  );
  await fc.assert(
    fc.asyncProperty(body, fc.constantFrom('POST', 'PUT', 'GET', 'DELETE'), async ({ type, text }, method) => {
      const url = method === 'POST' ? `${h!.mtlsBase}/register` : `${h!.mtlsBase}/register/some-client`;
      const res = await readResponse(await request(url, { method, headers: { 'content-type': type, authorization: `Bearer ${TOKEN}` }, body: method === 'GET' || method === 'DELETE' ? undefined : text, dispatcher: agent }));
      if (res.status >= 500) throw new Error(`${res.status} for ${method} ${text.slice(0, 200)}: ${res.text}`);
      if (res.headers['cache-control'] !== 'no-store') throw new Error(`no no-store for ${text.slice(0, 200)}`);
      if (res.status !== 201 && typeof res.json?.error !== 'string') throw new Error(`no error code: ${res.status} ${res.text}`);
    }),
    { numRuns: 150, seed: 20_261_202 },
  );
  t.notOk(h.logs.some((line) => line.includes('"level":"error"')), 'nothing logged at error level');
  const signed = await readResponse(await request(`${h.mtlsBase}/register`, { method: 'POST', headers: { 'content-type': 'application/jwt', authorization: `Bearer ${TOKEN}` }, body: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln', dispatcher: agent }));
  t.equal(signed.status, 400, 'a signed request where the policy allows JSON only');
  t.equal(signed.json.error, 'invalid_request');
});
