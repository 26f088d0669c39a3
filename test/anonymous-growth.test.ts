import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { memoryThresholds } from '../src/gateway/load-shedding.js';
import { jsonDepth } from '../src/oauth/authorization-request.js';
import { addressKey, clientAddress } from '../src/http/client-address.js';
import { TokenBuckets } from '../src/rate-limit/token-buckets.js';
import { MemoryStore, StoreFullError } from '../src/store/memory.js';
import { StoreUnavailableError } from '../src/store/store.js';
import { addressBlocks } from '../src/config/address-blocks.js';
import { authorizationUrl, browserRequest, CookieJar, formOf, push, redeem } from './helpers/flow.js';
import { parForm, startGateway, testConfig, testPki, type Harness, type Response } from './helpers/harness.js';
import { TrackingStore } from './helpers/tracking-store.js';

// Anonymous visitors of the authorization endpoint must not be able to grow the gateway's state:
// one interaction per pushed request, bounded pushed requests, a bounded store, memory load
// shedding and per-address rate limits (issue #11).

const NO_RATE_LIMIT = { public: { perIpPerMinute: 0 }, mtls: { perIpPerMinute: 0 } };

/** Runs `count` calls of `fn`, `concurrency` at a time. */
async function flood<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += concurrency)
    results.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - start) }, (_, i) => fn(start + i)))));
  return results;
}

const isLoginPage = (res: Response) => res.status === 200 && res.text.includes('name="password"');
const errorCode = (res: Response) => /<code>([a-z_]+)<\/code>/.exec(res.text)?.[1];

/** Logs in on a login page and approves; returns the redirect to the client. */
async function loginAndApprove(h: Harness, jar: CookieJar, page: Response): Promise<URL> {
  const login = formOf(page.text);
  const signedIn = await browserRequest(h, jar, login.action, { csrf: login.csrf, username: 'alice', password: 'wonderland', action: 'login' });
  if (signedIn.status !== 303) throw new Error(`login: ${signedIn.status} ${signedIn.text.slice(0, 200)}`);
  const consent = await browserRequest(h, jar, signedIn.headers.location as string);
  const { action, csrf } = formOf(consent.text);
  const done = await browserRequest(h, jar, action, { csrf, decision: 'approve' });
  if (done.status !== 303) throw new Error(`consent: ${done.status} ${done.text.slice(0, 200)}`);
  return new URL(done.headers.location as string);
}

t.test('visits of one request_uri', async (t) => {
  const store = new TrackingStore();
  const h = await startGateway({ configure: (c) => void (c.rateLimit = NO_RATE_LIMIT), gatewayOptions: { store } });
  t.teardown(() => h.close());

  t.test('2,000 fresh browsers: one interaction, the others get the error page and nothing is stored', async (t) => {
    const pushed = await push(h);
    const before = store.stats();
    const pages = await flood(2000, 50, () => browserRequest(h, new CookieJar(), authorizationUrl('client-one', pushed.requestUri)));
    const shown = pages.filter(isLoginPage);
    t.equal(shown.length, 1, 'one browser got the login page');
    const refused = pages.filter((p) => p.status === 400 && errorCode(p) === 'invalid_request_uri');
    t.equal(refused.length, 1999, 'every other browser got the invalid_request_uri page');
    t.ok(refused.every((p) => p.headers['set-cookie'] === undefined), 'no cookie for a refused browser');
    t.equal((await store.live('interaction')).length, 1, 'one interaction in the store');
    const after = store.stats();
    t.equal(after.entries - before.entries, 1, 'one record more than before the flood');
    t.ok(after.bytes - before.bytes < 2048, `the store grew by ${after.bytes - before.bytes} bytes`);
    t.comment(`2,000 visits: ${after.entries - before.entries} record, ${after.bytes - before.bytes} bytes more in the store`);
    const registry = h.gateway.context.metrics!.registry;
    t.match(await registry.getSingleMetricAsString('fapi_gateway_memory_store_records'), `fapi_gateway_memory_store_records ${store.stats().entries}`, 'the size is a metric');
    t.match(await registry.getSingleMetricAsString('fapi_gateway_memory_store_bytes'), `fapi_gateway_memory_store_bytes ${store.stats().bytes}`);
  });

  t.test('the browser that opened it first reloads and completes despite a flood from others', async (t) => {
    const pushed = await push(h);
    const jar = new CookieJar();
    const url = authorizationUrl('client-one', pushed.requestUri);
    t.ok(isLoginPage(await browserRequest(h, jar, url)), 'first load');
    t.ok(isLoginPage(await browserRequest(h, jar, url)), 'a reload in the same browser');
    const others = await flood(300, 50, () => browserRequest(h, new CookieJar(), url));
    t.ok(others.every((p) => p.status === 400 && errorCode(p) === 'invalid_request_uri'), 'every other browser is refused');
    t.match(others[0].text, 'another browser');
    const page = await browserRequest(h, jar, url);
    t.ok(isLoginPage(page), 'another reload still shows the login page');
    const redirect = await loginAndApprove(h, jar, page);
    const code = redirect.searchParams.get('code');
    t.ok(code, 'a code');
    const tokens = await redeem(h, code!, pushed);
    t.equal(tokens.status, 200, 'the code is redeemed');
    t.equal((await store.live('interaction')).filter((id) => pushed.requestUri.endsWith(id)).length, 0, 'the interaction went with the request');
  });

  t.test('a visitor without a valid request_uri writes nothing', async (t) => {
    const theirs = await push(h, 'client-two');
    const before = store.stats().entries;
    const jar = new CookieJar();
    const urls = [
      '/authorize',
      '/authorize?client_id=client-one',
      '/authorize?client_id=nobody&request_uri=urn:ietf:params:oauth:request_uri:x',
      authorizationUrl('client-one', 'urn:ietf:params:oauth:request_uri:' + 'A'.repeat(43)),
      authorizationUrl('client-one', 'https://elsewhere.example/request'),
      authorizationUrl('client-one', theirs.requestUri),
      '/interaction/' + 'B'.repeat(43),
      '/interaction/not-an-id',
    ];
    for (const url of urls) {
      const res = await browserRequest(h, jar, url);
      t.equal(res.status, 400, url);
    }
    const posted = await browserRequest(h, jar, `/interaction/${'B'.repeat(43)}/login`, { csrf: 'x', username: 'alice', password: 'wonderland', action: 'login' });
    t.equal(posted.status, 400);
    t.equal(store.stats().entries, before, 'no record was written');
    t.same(jar.cookies.size, 0, 'no cookie was set');
  });
});

t.test('pushed requests are bounded in size', async (t) => {
  const h = await startGateway({ configure: (c) => void (c.rateLimit = NO_RATE_LIMIT) });
  t.teardown(() => h.close());
  const par = async (form: Record<string, string>) => h.post('/par', { ...parForm(form), ...(await h.assertionForm()) });
  const refused = (t: Test, res: Awaited<ReturnType<typeof par>>, description: RegExp) => {
    t.equal(res.status, 400, res.text.slice(0, 200));
    t.equal(res.json?.error, 'invalid_request');
    t.match(res.json?.error_description, description);
    t.equal(res.headers['cache-control'], 'no-store');
  };
  type Test = typeof t;

  t.test('claims larger than 16 KiB', async (t) => {
    const claims = JSON.stringify({ id_token: Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`claim_${i}`, { essential: true }])) });
    t.ok(claims.length > 16_384);
    refused(t, await par({ claims }), /claims is larger than 16384 bytes/);
  });

  t.test('claims nested 8,000 deep: a 400, no stack overflow, no error log', async (t) => {
    const logged = h.logs.length;
    refused(t, await par({ claims: '['.repeat(8000) + ']'.repeat(8000) }), /nested more than 8 levels/);
    refused(t, await par({ claims: '{"id_token":' + '{"a":'.repeat(1500) + 'null' + '}'.repeat(1501) }), /nested more than 8 levels/);
    const errors = h.logs.slice(logged).filter((line) => ['error', 'fatal'].includes(JSON.parse(line).level));
    t.same(errors, [], 'nothing logged at error level');
  });

  t.test('a real claims request still passes', async (t) => {
    const res = await par({ claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:mace:incommon:iap:silver'] } }, userinfo: { name: null } }) });
    t.equal(res.status, 201, res.text);
  });

  t.test('too many parameters', async (t) => {
    refused(t, await par(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`extra_${i}`, 'x']))), /too many parameters \(at most 50\)/);
  });

  t.test('a value longer than 2048 characters', async (t) => {
    refused(t, await par({ state: 's'.repeat(2049) }), /state is longer than 2048 characters/);
    refused(t, await par({ ['x'.repeat(129)]: '1' }), /parameter name is longer than 128/);
  });

  t.test('jsonDepth counts without recursion and ignores brackets in strings', async (t) => {
    t.equal(jsonDepth('{"a":[1,{"b":"[[[{{{"}]}', 100), 3);
    t.equal(jsonDepth('"\\"["', 100), 0);
    t.equal(jsonDepth('['.repeat(1_000_000), 8), 9, 'stops past the limit');
  });
});

const isFull = (write: Promise<unknown>) => write.then(() => false, (err) => err instanceof StoreFullError);

t.test('the memory store is bounded', async (t) => {
  t.test('full: new records are refused, reads and consumptions work, expiry makes room', async (t) => {
    const store = new MemoryStore({ maxEntries: 10 });
    t.teardown(() => store.close());
    for (let i = 0; i < 10; i++) await store.set('code', `c${i}`, { i }, 1);
    const full = await store.set('code', 'one-more', {}, 60).catch((e) => e);
    t.ok(full instanceof StoreFullError && full instanceof StoreUnavailableError, 'StoreFullError, a StoreUnavailableError');
    t.equal(await store.setIfAbsent('grant', 'g', {}, 60).catch((e) => e.name), 'StoreUnavailableError');
    t.same(await store.get('code', 'c1'), { i: 1 }, 'reads work');
    t.same(await store.consume('code', 'c2'), { i: 2 }, 'consumption works');
    await store.set('code', 'c3', { i: 3, again: true }, 1).catch((e) => t.fail(`an overwrite that fits: ${e}`));
    await store.set('grant', 'after-consume', {}, 60);
    t.equal(store.stats().entries, 10);
    await sleep(1100);
    await store.set('code', 'after-expiry', {}, 60);
    t.equal(store.stats().entries, 2, 'the expired records were swept when room was needed');
  });

  t.test('bytes are counted: a large value fills it; deleting frees the room', async (t) => {
    const store = new MemoryStore({ maxBytes: 65_536 });
    t.teardown(() => store.close());
    await store.set('grant', 'big', { blob: 'x'.repeat(20_000) }, 60);
    t.ok(await isFull(store.set('grant', 'big2', { blob: 'x'.repeat(20_000) }, 60)));
    await store.delete('grant', 'big');
    t.ok(store.stats().bytes < 100, `bytes back near zero: ${store.stats().bytes}`);
    await store.set('grant', 'big2', { blob: 'x'.repeat(20_000) }, 60);
  });

  t.test('records that open a flow fill only 90%', async (t) => {
    const store = new MemoryStore({ maxEntries: 10 });
    t.teardown(() => store.close());
    for (let i = 0; i < 9; i++) await store.set('par', `p${i}`, {}, 60);
    t.ok(await isFull(store.set('par', 'p9', {}, 60)));
    t.ok(await isFull(store.setIfAbsent('interaction', 'p0', {}, 60)));
    await store.set('code', 'code', {}, 60);
  });

  t.test('values are copies', async (t) => {
    const store = new MemoryStore();
    t.teardown(() => store.close());
    const value = { nested: { n: 1 } };
    await store.set('grant', 'g', value, 60);
    value.nested.n = 2;
    const read = await store.get<typeof value>('grant', 'g');
    t.same(read, { nested: { n: 1 } });
    read!.nested.n = 3;
    t.same(await store.get('grant', 'g'), { nested: { n: 1 } });
  });
});

t.test('a full store: 503 with Retry-After at PAR, flows under way finish, visitors write nothing, recovery when records go', async (t) => {
  const store = new TrackingStore({ maxEntries: 100 });
  const h = await startGateway({ configure: (c) => void (c.rateLimit = NO_RATE_LIMIT), gatewayOptions: { store } });
  t.teardown(() => h.close());

  const underWay = await push(h);
  const jar = new CookieJar();
  const url = authorizationUrl('client-one', underWay.requestUri);
  t.ok(isLoginPage(await browserRequest(h, jar, url)), 'a flow under way');

  let refused;
  for (let i = 0; i < 100 && !refused; i++) {
    const res = await h.post('/par', { ...parForm(), ...(await h.assertionForm()) });
    if (res.status !== 201) refused = res;
  }
  t.ok(refused, 'PAR is refused once the store is full');
  t.equal(refused!.status, 503);
  t.equal(refused!.json.error, 'temporarily_unavailable');
  t.ok(Number(refused!.headers['retry-after']) >= 1, 'Retry-After');
  t.equal(refused!.headers['cache-control'], 'no-store');

  const entries = store.stats().entries;
  const visits = await flood(200, 50, () => browserRequest(h, new CookieJar(), url));
  t.ok(visits.every((p) => p.status === 400), 'other browsers get the error page, not a 503');
  t.equal(store.stats().entries, entries, 'and write nothing');

  const code = (await loginAndApprove(h, jar, await browserRequest(h, jar, url))).searchParams.get('code');
  t.ok(code, 'the flow under way completes');
  t.equal((await redeem(h, code!, underWay)).status, 200, 'and its code is redeemed');

  // The pushed requests go (used or expired): PAR works again at once.
  for (const id of await store.live('par')) await store.consume('par', id);
  const again = await h.post('/par', { ...parForm(), ...(await h.assertionForm()) });
  t.equal(again.status, 201, 'PAR works again');
});

t.test('memory load shedding is on by default, and a shed period ends when the pressure ends', async (t) => {
  const limit = getHeapStatistics().heap_size_limit;
  t.same(memoryThresholds({}), { maxHeapUsedBytes: Math.floor(limit * 0.85), maxRssBytes: Math.floor(limit * 1.5) });
  t.same(memoryThresholds({ maxHeapUsedBytes: 0, maxRssBytes: 5 }), { maxHeapUsedBytes: 0, maxRssBytes: 5 });

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const threshold = process.memoryUsage().heapUsed + 150 * 1024 * 1024;
  const h = await startGateway({
    configure: (c) => {
      c.rateLimit = NO_RATE_LIMIT;
      c.loadShedding = { maxHeapUsedBytes: threshold, maxEventLoopDelayMs: 0, sampleIntervalMs: 50 };
    },
  });
  t.teardown(() => h.close());
  const discovery = () => h.get(`${h.issuer}/.well-known/openid-configuration`);
  const until = async (status: number) => {
    let res = await discovery();
    for (let i = 0; i < 200 && res.status !== status; i++) {
      await sleep(50);
      res = await discovery();
    }
    return res;
  };
  t.equal((await until(200)).status, 200, 'serves below the threshold');
  let ballast: number[][] | undefined = Array.from({ length: 40 }, () => new Array<number>(1_000_000).fill(0.5)); // ~320 MB of heap
  const shed = await until(503);
  t.equal(shed.status, 503, 'sheds past the threshold');
  t.ok(shed.headers['retry-after'], 'Retry-After');
  t.equal(ballast.length, 40);
  ballast = undefined;
  gc();
  t.equal((await until(200)).status, 200, 'serves again once the heap is back under it');
});

t.test('per-address rate limits', async (t) => {
  const h = await startGateway({
    // Loopback is exempt by default; these tests are the clients it would otherwise limit.
    configure: (c) => void (c.rateLimit = { public: { perIpPerMinute: 60, burst: 5 }, mtls: { perIpPerMinute: 60, burst: 3 }, exempt: [] }),
  });
  t.teardown(() => h.close());

  t.test('loopback is exempt by default (a sidecar proxy or local tooling is not one client)', async (t) => {
    const local = await startGateway({ configure: (c) => void (c.rateLimit = { public: { perIpPerMinute: 60, burst: 2 } }) });
    t.teardown(() => local.close());
    for (let i = 0; i < 6; i++) t.equal((await local.get(`${local.issuer}/.well-known/openid-configuration`)).status, 200);
  });

  t.test('the public listener: 429 as JSON for APIs, as a page for pages; an audit event; then it recovers', async (t) => {
    const discovery = () => h.get(`${h.issuer}/.well-known/openid-configuration`);
    for (let i = 0; i < 5; i++) t.equal((await discovery()).status, 200, `request ${i + 1} of the burst`);
    const api = await discovery();
    t.equal(api.status, 429);
    t.equal(api.json.error, 'slow_down');
    t.equal(api.headers['retry-after'], '1');
    t.equal(api.headers['cache-control'], 'no-store');
    const page = await browserRequest(h, new CookieJar(), '/authorize?client_id=client-one');
    t.equal(page.status, 429);
    t.match(String(page.headers['content-type']), /^text\/html/);
    t.equal(errorCode(page), 'temporarily_unavailable');
    t.equal(page.headers['retry-after'], '1');
    t.match(String(page.headers['cache-control']), /no-store/);
    const audits = h.logs.map((l) => JSON.parse(l)).filter((l) => l.audit === 'rate_limited');
    t.equal(audits.length, 1, 'one audit event for the episode');
    t.match(audits[0], { listener: 'public', client: '127.0.0.1' });
    const metrics = await h.gateway.context.metrics!.registry.getSingleMetricAsString('fapi_gateway_rate_limited_requests_total');
    t.match(metrics, 'fapi_gateway_rate_limited_requests_total{listener="public"} 2');
    await sleep(1100);
    t.equal((await discovery()).status, 200, 'recovers after Retry-After');
  });

  t.test('the mTLS listener has its own limit', async (t) => {
    const jwks = () => h.get(`${h.mtlsBase}/userinfo`, { client: 'client-one' });
    for (let i = 0; i < 3; i++) t.equal((await jwks()).status, 401);
    const limited = await jwks();
    t.equal(limited.status, 429);
    t.equal(limited.json.error, 'slow_down');
  });

  t.test('buckets: refill, a bounded table, one report per episode', async (t) => {
    const buckets = new TokenBuckets(60, 2, 3);
    t.same(buckets.take('a', 0), { allowed: true });
    t.same(buckets.take('a', 0), { allowed: true });
    t.same(buckets.take('a', 0), { allowed: false, retryAfterSeconds: 1, first: true });
    t.same(buckets.take('a', 500), { allowed: false, retryAfterSeconds: 1, first: false });
    t.same(buckets.take('a', 1000), { allowed: true }, 'a token a second');
    for (const key of ['b', 'c', 'd', 'e']) buckets.take(key, 1000);
    t.equal(buckets.size, 3, 'the table keeps its cap');
  });

  t.test('addresses: IPv6 by /64, mapped IPv4 unmapped, X-Forwarded-For only from trusted proxies', async (t) => {
    t.equal(addressKey('203.0.113.9'), '203.0.113.9');
    t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    t.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    t.equal(addressKey('::1'), '0:0:0:0::/64');
    const proxies = addressBlocks(['10.0.0.0/8'], 'test');
    const req = (remoteAddress: string, xff?: string) => ({ socket: { remoteAddress }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as never;
    t.equal(clientAddress(req('::ffff:198.51.100.7')), '198.51.100.7');
    t.equal(clientAddress(req('198.51.100.7', '1.2.3.4'), proxies), '198.51.100.7', 'not from a proxy: the header is ignored');
    t.equal(clientAddress(req('10.1.2.3', '1.2.3.4, 203.0.113.5, 10.9.9.9'), proxies), '203.0.113.5', 'the nearest untrusted hop');
    t.equal(clientAddress(req('10.1.2.3'), proxies), '10.1.2.3', 'a proxy without the header');
  });
});

t.test('bad values fail at start naming the key path', async (t) => {
  const { dir, pki } = await testPki();
  const cases: [string, (c: Record<string, any>) => void][] = [
    ['store.maxEntries', (c) => void (c.store = { type: 'memory', maxEntries: 0 })],
    ['store.maxBytes', (c) => void (c.store = { type: 'memory', maxBytes: 'lots' })],
    ['rateLimit.public.perIpPerMinute', (c) => void (c.rateLimit = { public: { perIpPerMinute: -1 } })],
    ['rateLimit.mtls.burst', (c) => void (c.rateLimit = { mtls: { perIpPerMinute: 10, burst: 0 } })],
    ['rateLimit.maxTrackedIps', (c) => void (c.rateLimit = { maxTrackedIps: 5 })],
    ['loadShedding.maxHeapUsedBytes', (c) => void (c.loadShedding = { maxHeapUsedBytes: -5 })],
  ];
  for (const [keyPath, change] of cases) {
    const config = await testConfig(pki);
    change(config);
    const err = await resolveConfig(config, dir, {}).catch((e) => e);
    t.ok(err instanceof ConfigError, `${keyPath}: a ConfigError`);
    t.equal(err.keyPath, keyPath);
  }
  const config = await testConfig(pki);
  config.rateLimit = { exempt: ['::1', '10.0.0.0/33'] };
  const err = await createContext(await resolveConfig(config, dir, {})).catch((e) => e);
  t.ok(err instanceof ConfigError);
  t.equal(err.keyPath, 'rateLimit.exempt[1]', 'an address list is checked when the gateway is built (and by fapi-gateway check)');
});
