import t from 'tap';
import { startGateway, freePort, type Harness } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';

let h: Harness;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let token: string;
let refusedPort: number;

t.before(async () => {
  upstream = await recordingUpstream();
  refusedPort = await freePort();
  h = await startGateway({
    configure: (config) => {
      config.routes = [
        { prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], timeoutMs: 1000, bodyLimitBytes: 1024 },
        { prefix: '/payments', upstream: upstream.url, scopes: ['payments'], methods: ['POST'] },
        { prefix: '/refused', upstream: `http://127.0.0.1:${refusedPort}`, scopes: [], methods: ['GET', 'POST'] },
        { prefix: '/forwarding', upstream: upstream.url, scopes: [], methods: ['GET'], forwardAuthorization: true },
      ];
    },
  });
  token = (await fullFlow(h, 'client-one')).tokens.access_token;
});
t.teardown(async () => {
  await h.close();
  await upstream.close();
});

const call = (path: string, options: { client?: 'client-one' | 'client-two' | null; headers?: Record<string, string>; token?: string } = {}) =>
  h.get(`${h.mtlsBase}${path}`, {
    client: options.client === undefined ? 'client-one' : options.client,
    headers: { authorization: `Bearer ${options.token ?? token}`, ...options.headers },
  });

t.test('a bound token with the scope reaches the upstream with identity headers, spoofed ones dropped', async (t) => {
  upstream.received.length = 0;
  const res = await call('/accounts/acc-1?x=1', {
    headers: { 'x-authenticated-subject': 'mallory', 'x-authenticated-client-id': 'evil', 'x-fapi-interaction-id': '8f0b2a62-1a7e-4d7b-9a63-6c1f5a0e2d11', 'ssl-client-cert': 'forged' },
  });
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['x-upstream'], 'yes');
  t.equal(res.headers['x-fapi-interaction-id'], '8f0b2a62-1a7e-4d7b-9a63-6c1f5a0e2d11');
  const got = upstream.received[0];
  t.equal(got.url, '/accounts/acc-1?x=1');
  t.equal(got.headers['x-authenticated-subject'], 'alice-7f3c');
  t.equal(got.headers['x-authenticated-client-id'], 'client-one');
  t.match(got.headers['x-authenticated-scope'], /accounts/);
  t.ok(got.headers['x-authenticated-grant-id']);
  t.equal(got.headers['x-fapi-interaction-id'], '8f0b2a62-1a7e-4d7b-9a63-6c1f5a0e2d11');
  t.notOk(got.headers.authorization, 'Authorization is not forwarded by default');
  t.notOk(got.headers['ssl-client-cert']);
});

t.test('Authorization is forwarded where the route says so', async (t) => {
  upstream.received.length = 0;
  const res = await call('/forwarding');
  t.equal(res.status, 200);
  t.equal(upstream.received[0].headers.authorization, `Bearer ${token}`);
});

t.test('an interaction id is created when the client sends none or an invalid one, on errors too', async (t) => {
  const ok = await call('/accounts');
  t.match(ok.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
  const bad = await call('/accounts', { headers: { 'x-fapi-interaction-id': 'not-a-uuid' } });
  t.not(bad.headers['x-fapi-interaction-id'], 'not-a-uuid');
  const refused = await call('/accounts', { client: 'client-two' });
  t.equal(refused.status, 401);
  t.match(refused.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
});

t.test('refusals', async (t) => {
  const cases: [string, Awaited<ReturnType<typeof call>>, number, string][] = [
    ['another client certificate', await call('/accounts', { client: 'client-two' }), 401, 'invalid_token'],
    ['no certificate', await call('/accounts', { client: null }), 401, 'invalid_token'],
    ['no token', await h.get(`${h.mtlsBase}/accounts`, { client: 'client-one' }), 401, ''],
    ['token in the query', await h.get(`${h.mtlsBase}/accounts?access_token=${token}`, { client: 'client-one' }), 400, 'invalid_request'],
    ['missing scope', await h.get(`${h.mtlsBase}/payments`, { client: 'client-one', headers: { authorization: `Bearer ${token}` } }), 405, ''],
    ['garbage token', await call('/accounts', { token: 'abc.def.ghi' }), 401, 'invalid_token'],
    ['bad auth date', await call('/accounts', { headers: { 'x-fapi-auth-date': 'yesterday' } }), 400, 'invalid_request'],
    ['bad customer ip', await call('/accounts', { headers: { 'x-fapi-customer-ip-address': '999.1.1.1' } }), 400, 'invalid_request'],
    ['unknown path', await call('/nowhere'), 404, ''],
    ['segment match only', await call('/accountsx'), 404, ''],
  ];
  for (const [name, res, status, error] of cases) {
    t.equal(res.status, status, `${name}: ${res.text}`);
    if (error) t.equal(res.json?.error, error, name);
    t.match(res.headers['content-type'], /json/, name);
  }
  t.match(cases[0][1].headers['www-authenticate'], /^Bearer error="invalid_token"/);
});

t.test('valid FAPI customer headers pass upstream', async (t) => {
  upstream.received.length = 0;
  const res = await call('/accounts', { headers: { 'x-fapi-auth-date': 'Sun, 10 Sep 2017 19:43:31 GMT', 'x-fapi-customer-ip-address': '2001:db8::1' } });
  t.equal(res.status, 200);
  t.equal(upstream.received[0].headers['x-fapi-customer-ip-address'], '2001:db8::1');
});

t.test('insufficient scope is 403', async (t) => {
  const res = await h.post('/payments', 'a=1', { client: 'client-one', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.status, 403);
  t.equal(res.json.error, 'insufficient_scope');
  t.match(res.headers['www-authenticate'], /insufficient_scope/);
});

t.test('upstream timing out is 504, refusing is 502, resetting is 502; bodies are limited', async (t) => {
  const slow = await call('/accounts/slow');
  t.equal(slow.status, 504, slow.text);
  const refused = await call('/refused');
  t.equal(refused.status, 502, refused.text);
  const reset = await call('/accounts/reset');
  t.equal(reset.status, 502, reset.text);
  const big = await h.post('/accounts', 'x'.repeat(5000), { client: 'client-one', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  t.equal(big.status, 413, big.text);
  const small = await h.post('/accounts', '{"a":1}', { client: 'client-one', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  t.equal(small.status, 200, small.text);
  t.equal(upstream.received.at(-1)?.body, '{"a":1}');
});

t.test('a chunked body over the limit is stopped with 413', async (t) => {
  const { request } = await import('undici');
  const { Readable } = await import('node:stream');
  const chunks = Readable.from(Array.from({ length: 10 }, () => Buffer.alloc(512, 'x')));
  const res = await request(`${h.mtlsBase}/accounts`, {
    method: 'POST',
    body: chunks,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    dispatcher: h.agent('client-one'),
  });
  const body = await res.body.text();
  t.equal(res.statusCode, 413, body);
});
