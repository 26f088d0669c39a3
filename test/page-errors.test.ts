import t, { type Test } from 'tap';
import { request } from 'undici';
import { MemoryStore } from '../src/store/memory.js';
import { StoreUnavailableError, type RecordKeys, type RecordKind, type RecordsRead } from '../src/store/store.js';
import { parForm, startGateway, type Harness, type Response } from './helpers/harness.js';
import { authorizationUrl, browserRequest, CookieJar, formOf, push } from './helpers/flow.js';

// The authorization endpoint and the login and consent pages answer failures as pages (with the
// status and error code an API client would get as JSON), never as JSON and never with a redirect.

/** The memory store, failing like an unreachable Redis while `down`. */
class SwitchableStore extends MemoryStore {
  down = false;
  #check(): void {
    if (this.down) throw new StoreUnavailableError('Redis unavailable: connect ECONNREFUSED (test)');
  }
  override async get<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    this.#check();
    return super.get<T>(kind, id);
  }
  override async getMany<T extends readonly unknown[]>(keys: RecordKeys<T>): Promise<RecordsRead<T>> {
    this.#check();
    return super.getMany<T>(keys);
  }
  override async set(kind: RecordKind, id: string, value: unknown, ttl: number): Promise<void> {
    this.#check();
    return super.set(kind, id, value, ttl);
  }
  override async consume<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    this.#check();
    return super.consume<T>(kind, id);
  }
  override async delete(kind: RecordKind, id: string): Promise<void> {
    this.#check();
    return super.delete(kind, id);
  }
}

const store = new SwitchableStore();
let h: Harness;
t.before(async () => {
  h = await startGateway({ gatewayOptions: { store } });
});
t.teardown(() => h.close());

function htmlErrorPage(t: Test, res: Response, status: number, error: string): void {
  t.equal(res.status, status, 'status');
  t.match(String(res.headers['content-type']), /^text\/html/, 'an HTML page');
  t.match(res.text, `<code>${error}</code>`, `the page names ${error}`);
  t.equal(res.headers.location, undefined, 'no redirect');
  t.match(String(res.headers['cache-control']), /no-store/);
  t.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/);
}

t.test('a store outage: the authorization endpoint and the consent page answer a 503 page with Retry-After', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const login = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  t.equal(login.status, 200, 'the login page while the store is up');
  store.down = true;
  t.teardown(() => void (store.down = false));

  const authorize = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  htmlErrorPage(t, authorize, 503, 'temporarily_unavailable');
  t.equal(authorize.headers['retry-after'], '1');

  const { action, csrf } = formOf(login.text);
  const submitted = await browserRequest(h, jar, action, { csrf, username: 'alice', password: 'wonderland', action: 'login' });
  htmlErrorPage(t, submitted, 503, 'temporarily_unavailable');
  t.notMatch(submitted.text, 'wonderland', 'the password is not echoed');
  t.ok(h.logs.some((line) => line.includes('"event":"store_unavailable"')), 'the outage is logged');

  store.down = false;
  const again = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  t.equal(again.status, 200, 'the login page again once the store is back');
});

t.test('a malformed form on a page: a 400 page, not JSON', async (t) => {
  const res = await request(new URL('/authorize', h.issuer).toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"client_id":"client-one"}',
    dispatcher: h.agent(),
  });
  const text = await res.body.text();
  htmlErrorPage(t, { status: res.statusCode, headers: res.headers, text, json: undefined }, 400, 'invalid_request');
});

t.test('API endpoints keep answering JSON during an outage', async (t) => {
  store.down = true;
  t.teardown(() => void (store.down = false));
  const res = await h.post('/par', parForm({ client_id: 'client-two' }), { client: 'client-two' });
  t.equal(res.status, 503);
  t.equal(res.json?.error, 'temporarily_unavailable');
  t.equal(res.headers['retry-after'], '1');
});
