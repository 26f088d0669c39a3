import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { derivedProfile } from './helpers/derived-profile.js';
import { freePort, startGateway, type Harness } from './helpers/harness.js';
import { grantToken, startSampleBank } from './helpers/resource-tokens.js';
import { recordingUpstream } from './helpers/upstream.js';

const URN = 'urn:au-cds:error:cds-all:';
const AUTH_DATE = 'Sun, 10 Sep 2017 19:43:31 GMT';
const ACCOUNTS = '/cds-au/v1/banking/accounts';

let profile: string;
let h: Harness;
let bank: Awaited<ReturnType<typeof startSampleBank>>;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let token: string;

const cdrRoutes = (bankUrl: string, upstreamUrl: string, refused: number) => [
  { prefix: ACCOUNTS, upstream: bankUrl, methods: ['GET'], ecosystem: { versions: [1, 2], scopes: { GET: ['bank:accounts.basic:read'] } } },
  {
    prefix: '/cds-au/v1/banking/payees',
    upstream: upstreamUrl,
    methods: ['GET', 'POST'],
    timeoutMs: 1000,
    bodyLimitBytes: 256,
    ecosystem: { versions: [3], scopes: { GET: ['bank:payees:read'], POST: ['bank:payees:write'] } },
  },
  { prefix: '/cds-au/v1/common/customer', upstream: `http://127.0.0.1:${refused}`, methods: ['GET'], scopes: ['common:customer.basic:read'], ecosystem: { versions: [1] } },
];

t.before(async () => {
  profile = await derivedProfile({ name: 'cdr-resources-test', ecosystem: 'cdr' });
  bank = await startSampleBank();
  upstream = await recordingUpstream();
  const refused = await freePort();
  h = await startGateway({
    configure: (config) => {
      config.profile = profile;
      config.routes = cdrRoutes(bank.url, upstream.url, refused);
    },
  });
  token = (await grantToken(h, { scope: 'openid bank:accounts.basic:read bank:payees:read common:customer.basic:read', extensions: { cdr: { arrangementId: 'arr-1' } } })).token;
});
t.teardown(async () => {
  await h.close();
  await bank.app.close();
  await upstream.close();
});

const cdsHeaders = (extra: Record<string, string> = {}) => ({ 'x-v': '2', 'x-fapi-auth-date': AUTH_DATE, ...extra });
const call = (path: string, headers: Record<string, string> = cdsHeaders(), options: { token?: string } = {}) =>
  h.get(`${h.mtlsBase}${path}`, { client: 'client-one', headers: { authorization: `Bearer ${options.token ?? token}`, ...headers } });

function isCdsError(t: Test, res: Awaited<ReturnType<typeof call>>, status: number, code: string) {
  t.equal(res.status, status, res.text);
  t.equal(res.json?.errors?.[0]?.code, URN + code, res.text);
  t.type(res.json?.errors?.[0]?.title, 'string');
  t.type(res.json?.errors?.[0]?.detail, 'string');
  t.same(res.json?.errors?.[0]?.meta, {});
  t.equal(res.headers['cache-control'], 'no-store');
  t.ok(res.headers['x-fapi-interaction-id'], 'an interaction id on the error');
}

t.test('Get Accounts through the gateway: CDS shapes, the negotiated x-v, the interaction id echoed', async (t) => {
  const id = randomUUID();
  const res = await call(ACCOUNTS, cdsHeaders({ 'x-fapi-interaction-id': id, 'x-fapi-customer-ip-address': '2001:db8::1', 'x-cds-client-headers': Buffer.from('User-Agent: x').toString('base64') }));
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['x-v'], '2');
  t.equal(res.headers['x-fapi-interaction-id'], id);
  t.equal(res.json.data.accounts.length, 2);
  t.match(res.json.data.accounts[0], { accountId: 'acc-0001', displayName: String, productCategory: String, openStatus: 'OPEN', maskedNumber: String });
  t.match(res.json.meta, { totalRecords: 2, totalPages: 1 });
  const balance = await call(`${ACCOUNTS}/acc-0002/balance`);
  t.equal(balance.status, 200, balance.text);
  t.match(balance.json.data, { accountId: 'acc-0002', currentBalance: '10250.00', availableBalance: '10250.00', currency: 'AUD' });
});

t.test('x-v negotiation: the highest served version within x-min-v..x-v goes upstream and comes back', async (t) => {
  upstream.received.length = 0;
  const cases: [Record<string, string>, string][] = [
    [{ 'x-v': '3' }, '3'],
    [{ 'x-v': '5', 'x-min-v': '2' }, '3'],
    // x-min-v not below x-v counts as absent.
    [{ 'x-v': '3', 'x-min-v': '9' }, '3'],
  ];
  const payees = await grantToken(h, { scope: 'bank:payees:read' });
  for (const [headers, chosen] of cases) {
    const res = await call('/cds-au/v1/banking/payees', cdsHeaders(headers), { token: payees.token });
    t.equal(res.status, 200, res.text);
    t.equal(res.headers['x-v'], chosen);
    t.equal(upstream.received.at(-1)?.headers['x-v'], chosen);
  }
  t.equal(upstream.received.at(-1)?.headers['x-authenticated-cdr-arrangement-id'], undefined, 'no arrangement, no header');
  // The client's own x-v in another spelling, or a spoofed arrangement, never reaches the upstream.
  const spoofed = await call('/cds-au/v1/banking/payees', cdsHeaders({ 'x-v': '3', x_v: '9', X_V: '8', 'x-authenticated-cdr-arrangement-id': 'arr-evil' }), { token: payees.token });
  t.equal(spoofed.status, 200);
  const got = upstream.received.at(-1)!.headers;
  t.equal(got['x-v'], '3');
  t.notOk(got.x_v);
  t.notOk(got['x-authenticated-cdr-arrangement-id']);
  const accounts = await call(ACCOUNTS, cdsHeaders({ 'x-v': '7', 'x-min-v': '1' }));
  t.equal(accounts.headers['x-v'], '2');
});

t.test('x-v refusals: missing 400 Header/Missing, malformed 400 Header/InvalidVersion, unserved 406 Header/UnsupportedVersion', async (t) => {
  isCdsError(t, await call(ACCOUNTS, { 'x-fapi-auth-date': AUTH_DATE }), 400, 'Header/Missing');
  for (const bad of ['0', '-1', 'v2', '1.0', ''])
    isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-v': bad })), 400, bad === '' ? 'Header/Missing' : 'Header/InvalidVersion');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-min-v': 'one' })), 400, 'Header/InvalidVersion');
  const unsupported = await call('/cds-au/v1/banking/payees', cdsHeaders({ 'x-v': '2', 'x-min-v': '1' }));
  isCdsError(t, unsupported, 406, 'Header/UnsupportedVersion');
});

t.test('the FAPI and CDS headers are checked before the token, and passed on', async (t) => {
  isCdsError(t, await call(ACCOUNTS, { 'x-v': '1' }), 400, 'Header/Missing');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-fapi-auth-date': 'yesterday' })), 400, 'Header/Invalid');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-fapi-customer-ip-address': '999.1.1.1', 'x-cds-client-headers': 'QQ==' })), 400, 'Header/Invalid');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-fapi-customer-ip-address': '192.0.2.1' })), 400, 'Header/Missing');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-cds-client-headers': 'not base64!' })), 400, 'Header/Invalid');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ 'x-fapi-end-user-present': 'yes' })), 400, 'Header/Invalid');
  // Before the token: a request with no token at all still gets the header error.
  const noToken = await h.get(`${h.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: { 'x-fapi-auth-date': AUTH_DATE } });
  isCdsError(t, noToken, 400, 'Header/Missing');

  upstream.received.length = 0;
  const payees = await grantToken(h, { scope: 'bank:payees:read', extensions: { cdr: { arrangementId: 'arr-9' } } });
  const clientHeaders = Buffer.from('Accept: */*').toString('base64');
  const ok = await call(
    '/cds-au/v1/banking/payees',
    cdsHeaders({ 'x-v': '3', 'x-fapi-customer-ip-address': '192.0.2.1', 'x-cds-client-headers': clientHeaders, 'x-fapi-end-user-present': 'true' }),
    { token: payees.token },
  );
  t.equal(ok.status, 200, ok.text);
  const got = upstream.received.at(-1)!.headers;
  t.equal(got['x-fapi-auth-date'], AUTH_DATE);
  t.equal(got['x-fapi-customer-ip-address'], '192.0.2.1');
  t.equal(got['x-cds-client-headers'], clientHeaders);
  t.equal(got['x-fapi-end-user-present'], 'true');
  t.equal(got['x-authenticated-cdr-arrangement-id'], 'arr-9');
});

t.test('x-fapi-interaction-id: any value echoed (and sent upstream), one made when none came, on errors too', async (t) => {
  upstream.received.length = 0;
  const payees = await grantToken(h, { scope: 'bank:payees:read' });
  const echoed = await call('/cds-au/v1/banking/payees', cdsHeaders({ 'x-v': '3', 'x-fapi-interaction-id': 'corr-123' }), { token: payees.token });
  t.equal(echoed.headers['x-fapi-interaction-id'], 'corr-123');
  t.equal(upstream.received.at(-1)?.headers['x-fapi-interaction-id'], 'corr-123');
  const made = await call(ACCOUNTS);
  t.match(made.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
  const refused = await call(ACCOUNTS, { 'x-fapi-interaction-id': 'corr-456' });
  t.equal(refused.status, 400);
  t.equal(refused.headers['x-fapi-interaction-id'], 'corr-456');
});

t.test('token refusals in the CDS envelope, WWW-Authenticate kept', async (t) => {
  const none = await h.get(`${h.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: cdsHeaders() });
  isCdsError(t, none, 401, 'GeneralError/Expected');
  t.equal(none.headers['www-authenticate'], 'Bearer');
  const garbage = await call(ACCOUNTS, cdsHeaders(), { token: 'abc.def.ghi' });
  isCdsError(t, garbage, 401, 'GeneralError/Expected');
  t.match(garbage.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  const otherCertificate = await h.get(`${h.mtlsBase}${ACCOUNTS}`, { client: 'client-two', headers: { authorization: `Bearer ${token}`, ...cdsHeaders() } });
  isCdsError(t, otherCertificate, 401, 'GeneralError/Expected');
  // Scope missing (per method): 403 InvalidConsent.
  const post = await h.post('/cds-au/v1/banking/payees', '{}', { client: 'client-one', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...cdsHeaders({ 'x-v': '3' }) } });
  isCdsError(t, post, 403, 'Authorisation/InvalidConsent');
  t.match(post.headers['www-authenticate'], /insufficient_scope/);
  t.match(post.headers['www-authenticate'], /bank:payees:write/);
});

t.test('a revoked or expired arrangement: 403 Authorisation/RevokedConsent', async (t) => {
  const ended = await grantToken(h, { scope: 'bank:accounts.basic:read', extensions: { cdr: { arrangementId: 'arr-ended' } } });
  t.equal((await call(ACCOUNTS, cdsHeaders(), { token: ended.token })).status, 200);
  await h.gateway.context.grants.end(ended.grant.id);
  isCdsError(t, await call(ACCOUNTS, cdsHeaders(), { token: ended.token }), 403, 'Authorisation/RevokedConsent');
  // Gone without an end marker (its time in the store ran out).
  const gone = await grantToken(h, { scope: 'bank:accounts.basic:read' });
  await h.gateway.context.grants.discard(gone.grant.id);
  isCdsError(t, await call(ACCOUNTS, cdsHeaders(), { token: gone.token }), 403, 'Authorisation/RevokedConsent');
  const expired = await grantToken(h, { scope: 'bank:accounts.basic:read', expiresAt: Math.floor(Date.now() / 1000) - 1 });
  isCdsError(t, await call(ACCOUNTS, cdsHeaders(), { token: expired.token }), 403, 'Authorisation/RevokedConsent');
});

t.test('paths: unknown 404 Resource/NotFound, a CDS endpoint not served 404 Resource/NotImplemented', async (t) => {
  isCdsError(t, await call('/cds-au/v1/banking/nothing-here'), 404, 'Resource/NotFound');
  isCdsError(t, await call(`${ACCOUNTS}/acc-1/nothing`), 404, 'Resource/NotFound');
  isCdsError(t, await call('/cds-au/v1/energy/plans'), 404, 'Resource/NotImplemented');
  isCdsError(t, await call('/cds-au/v1/banking/products/p-1'), 404, 'Resource/NotImplemented');
  isCdsError(t, await call('/cds-au'), 404, 'Resource/NotFound');
  isCdsError(t, await call('/cds-au/v2/banking/accounts'), 404, 'Resource/NotFound');
  const notImplemented = await call('/cds-au/v1/banking/products', { 'x-fapi-interaction-id': 'corr-789' });
  t.equal(notImplemented.headers['x-fapi-interaction-id'], 'corr-789');
  // Outside the CDS namespace the gateway's own answer is unchanged.
  const outside = await call('/elsewhere');
  t.equal(outside.status, 404);
  t.equal(outside.json.error, 'invalid_request');
});

t.test('Accept other than JSON: 406; 405 and 413 in the CDS envelope', async (t) => {
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ accept: 'application/xml' })), 406, 'Header/Invalid');
  isCdsError(t, await call(ACCOUNTS, cdsHeaders({ accept: 'application/json;q=0, text/html' })), 406, 'Header/Invalid');
  t.equal((await call(ACCOUNTS, cdsHeaders({ accept: 'application/json, text/plain;q=0.5' }))).status, 200);
  const post = await h.post(ACCOUNTS, '{}', { client: 'client-one', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...cdsHeaders() } });
  isCdsError(t, post, 405, 'GeneralError/Expected');
  t.equal(post.headers.allow, 'GET');
  const writer = await grantToken(h, { scope: 'bank:payees:write' });
  const big = await h.post('/cds-au/v1/banking/payees', 'x'.repeat(1000), { client: 'client-one', headers: { authorization: `Bearer ${writer.token}`, 'content-type': 'application/json', ...cdsHeaders({ 'x-v': '3' }) } });
  isCdsError(t, big, 413, 'Field/Invalid');
});

t.test('upstream failures in the CDS envelope: refused 502, timeout 504', async (t) => {
  isCdsError(t, await call('/cds-au/v1/common/customer', cdsHeaders({ 'x-v': '1' })), 502, 'GeneralError/Unexpected');
  const payees = await grantToken(h, { scope: 'bank:payees:read' });
  isCdsError(t, await call('/cds-au/v1/banking/payees/slow', cdsHeaders({ 'x-v': '3' }), { token: payees.token }), 504, 'GeneralError/Unexpected');
});

t.test('route settings are checked at start and named', async (t) => {
  const bad: [unknown, string][] = [
    [{ versions: [] }, 'routes[0].ecosystem.versions'],
    [{ versions: [1, 1] }, 'routes[0].ecosystem.versions'],
    [{ versions: ['1'] }, 'routes[0].ecosystem.versions'],
    [{ versions: [1], scopes: { POST: ['x'] } }, 'routes[0].ecosystem.scopes.POST'],
    [{ versions: [1], scopes: { GET: 'x' } }, 'routes[0].ecosystem.scopes.GET'],
    [{ versions: [1], colour: 'red' }, 'routes[0].ecosystem.colour'],
    [undefined, 'routes[0].ecosystem.versions'],
  ];
  for (const [ecosystem, keyPath] of bad) {
    await t.rejects(
      startGateway({
        configure: (config) => {
          config.profile = profile;
          config.routes = [{ prefix: ACCOUNTS, upstream: bank.url, ...(ecosystem === undefined ? {} : { ecosystem }) }];
        },
      }),
      { keyPath } as unknown as Error,
      JSON.stringify(ecosystem),
    );
  }
});

t.test('rate limiting and load shedding answer in the CDS envelope', async (t) => {
  const limited = await startGateway({
    configure: (config) => {
      config.profile = profile;
      config.routes = [cdrRoutes(bank.url, upstream.url, 1)[0]];
      config.rateLimit = { mtls: { perIpPerMinute: 1, burst: 1 }, exempt: [] };
    },
  });
  t.teardown(() => limited.close());
  const first = await limited.get(`${limited.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: { 'x-fapi-interaction-id': 'corr-rl', ...cdsHeaders() } });
  t.not(first.status, 429);
  const second = await limited.get(`${limited.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: { 'x-fapi-interaction-id': 'corr-rl', ...cdsHeaders() } });
  isCdsError(t, second, 429, 'GeneralError/Expected');
  t.ok(second.headers['retry-after']);
  t.equal(second.headers['x-fapi-interaction-id'], 'corr-rl');

  const shedding = await startGateway({
    configure: (config) => {
      config.profile = profile;
      config.routes = [cdrRoutes(bank.url, upstream.url, 1)[0]];
      config.loadShedding = { maxHeapUsedBytes: 1, sampleIntervalMs: 10, retryAfterSeconds: 7 };
    },
  });
  t.teardown(() => shedding.close());
  let res = await shedding.get(`${shedding.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: cdsHeaders() });
  for (let i = 0; i < 50 && res.status !== 503; i++) {
    await new Promise((r) => setTimeout(r, 20));
    res = await shedding.get(`${shedding.mtlsBase}${ACCOUNTS}`, { client: 'client-one', headers: cdsHeaders() });
  }
  isCdsError(t, res, 503, 'Service/Unavailable');
  t.equal(res.headers['retry-after'], '7');
});
