import t, { type Test } from 'tap';
import { request } from 'undici';
import { decodeJwt } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type Harness, type Response } from './helpers/harness.js';
import { authorizationUrl, authorizeAt, browserRequest, CookieJar, formOf, push, redeem, type PushedAuthorization } from './helpers/flow.js';

// The authorization endpoint and the login/consent pages (FAPI 2.0 §5.3.2.2, RFC 9126 §4, RFC 9207).

const CALLBACK = 'https://client.localhost/callback';
const CALLBACK_WITH_QUERY = 'https://client.localhost/callback?dummy1=lorem&dummy2=ipsum';

let h: Harness;
t.before(async () => {
  h = await startGateway({
    configure: (config) => {
      const one = config.clients.find((c: { client_id: string }) => c.client_id === 'client-one');
      one.redirect_uris = [CALLBACK, CALLBACK_WITH_QUERY];
    },
  });
});
t.teardown(() => h.close());

/** The security headers every interaction page carries. */
function pageHeaders(t: Test, res: Response): void {
  const csp = String(res.headers['content-security-policy'] ?? '');
  t.match(csp, /frame-ancestors 'none'/, 'CSP forbids framing');
  t.match(String(res.headers['x-frame-options']), /^(DENY|SAMEORIGIN)$/i, 'X-Frame-Options');
  t.match(String(res.headers['cache-control']), /no-store/, 'Cache-Control: no-store');
  t.match(String(res.headers['content-type']), /^text\/html/, 'an HTML page');
}

/** An error shown as a page: never a redirect. */
function errorPage(t: Test, res: Response, error: string, status = 400): void {
  t.equal(res.status, status, 'status');
  t.equal(res.headers.location, undefined, 'no Location header: not redirected');
  t.match(res.text, `<code>${error}</code>`, `the page names ${error}`);
  pageHeaders(t, res);
}

/** The authorization response the browser was redirected to: a 303 with Location. */
function redirected(t: Test, res: Response): URL {
  t.equal(res.status, 303, 'redirect');
  const location = res.headers.location;
  if (typeof location !== 'string') throw new Error(`no redirect: ${res.status} ${res.text.slice(0, 300)}`);
  const url = new URL(location);
  t.equal(url.searchParams.get('iss'), h.issuer, 'iss (RFC 9207)');
  return url;
}

function open(jar: CookieJar, pushed: PushedAuthorization, client = 'client-one', extra: Record<string, string> = {}): Promise<Response> {
  return browserRequest(h, jar, authorizationUrl(client, pushed.requestUri, extra));
}

async function login(jar: CookieJar, page: Response, password = 'wonderland'): Promise<Response> {
  const { action, csrf } = formOf(page.text);
  return browserRequest(h, jar, action, { csrf, username: 'alice', password, action: 'login' });
}

/** Logs in from a login page and answers the consent page; returns the final response. */
async function loginAndDecide(jar: CookieJar, page: Response, decision: 'approve' | 'deny' = 'approve'): Promise<Response> {
  const signedIn = await login(jar, page);
  if (signedIn.status !== 303) throw new Error(`login failed: ${signedIn.status}`);
  const consent = await browserRequest(h, jar, signedIn.headers.location as string);
  return decide(jar, consent, decision);
}

function decide(jar: CookieJar, consent: Response, decision: 'approve' | 'deny' = 'approve'): Promise<Response> {
  const { action, csrf } = formOf(consent.text);
  return browserRequest(h, jar, action, { csrf, decision });
}

const status = (res: Response) => (res.status === 200 ? 'status 200' : `status ${res.status}: ${res.text.slice(0, 300)}`);
const isLoginPage = (res: Response) => res.status === 200 && res.text.includes('name="password"');
const isConsentPage = (res: Response) => res.status === 200 && res.text.includes('name="decision"') && !res.text.includes('name="password"');

t.test('only pushed requests: a plain authorization request gets an error page, never a redirect', async (t) => {
  const jar = new CookieJar();
  const plain = new URLSearchParams({
    client_id: 'client-one',
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: 'openid',
    state: 'plain-state',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const res = await browserRequest(h, jar, `/authorize?${plain}`);
  errorPage(t, res, 'invalid_request');

  const unknownClient = await browserRequest(h, jar, `/authorize?client_id=nobody&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&response_type=code`);
  errorPage(t, unknownClient, 'invalid_request');

  const noClient = await browserRequest(h, jar, `/authorize?request_uri=${encodeURIComponent('urn:ietf:params:oauth:request_uri:abc')}`);
  errorPage(t, noClient, 'invalid_request');

  const notOurs = await browserRequest(h, jar, authorizationUrl('client-one', 'https://client.example/request.jwt'));
  errorPage(t, notOurs, 'invalid_request_uri');
});

t.test('request_uri problems are shown as invalid_request_uri pages', async (t) => {
  const jar = new CookieJar();
  t.test('unknown', async (t) => {
    const res = await browserRequest(h, jar, authorizationUrl('client-one', 'urn:ietf:params:oauth:request_uri:' + 'A'.repeat(43)));
    errorPage(t, res, 'invalid_request_uri');
  });
  t.test("another client's", async (t) => {
    const pushed = await push(h, 'client-two');
    errorPage(t, await open(jar, pushed, 'client-one'), 'invalid_request_uri');
    // The refusal did not spoil it for its owner.
    t.ok(isLoginPage(await open(new CookieJar(), pushed, 'client-two')), 'its owner can still use it');
  });
  t.test('reused after the authorization completed', async (t) => {
    const pushed = await push(h);
    const browser = new CookieJar();
    const done = await loginAndDecide(browser, await open(browser, pushed));
    redirected(t, done);
    errorPage(t, await open(browser, pushed), 'invalid_request_uri');
    errorPage(t, await open(new CookieJar(), pushed), 'invalid_request_uri');
  });
  t.test('reused after the user denied', async (t) => {
    const pushed = await push(h);
    const browser = new CookieJar();
    redirected(t, await loginAndDecide(browser, await open(browser, pushed), 'deny'));
    errorPage(t, await open(browser, pushed), 'invalid_request_uri');
  });
});

t.test('an expired request_uri is refused', async (t) => {
  const short = await startGateway({ configure: (config) => void (config.policy = { lifetimes: { requestUri: 1 } }) });
  t.teardown(() => short.close());
  const pushed = await push(short);
  await sleep(2100);
  const res = await browserRequest(short, new CookieJar(), authorizationUrl('client-one', pushed.requestUri));
  errorPage(t, res, 'invalid_request_uri');
});

t.test('a reload before logging in still completes, and only once', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const first = await open(jar, pushed);
  const second = await open(jar, pushed);
  t.ok(isLoginPage(first) && isLoginPage(second), 'both loads show the login page');
  const done = await loginAndDecide(jar, second);
  const url = redirected(t, done);
  t.ok(url.searchParams.get('code'), 'a code');
  t.equal(url.searchParams.get('state'), pushed.state);

  // The first tab going on afterwards gets an error page, no second code.
  const signedIn = await login(jar, first);
  const late = signedIn.status === 303 ? await browserRequest(h, jar, signedIn.headers.location as string) : signedIn;
  t.equal(late.headers.location, undefined, 'no second redirect');
  t.notOk(isConsentPage(late), 'no consent page');
  t.match(late.text, 'role="alert"', 'an error page');
});

t.test('parameters on the URL other than client_id and request_uri are ignored', async (t) => {
  t.test('a state only on the URL is not returned', async (t) => {
    const pushed = await push(h, 'client-one', { state: undefined });
    const url = await authorizeAt(h, authorizationUrl('client-one', pushed.requestUri, { state: 'from-the-url' }));
    t.ok(url.searchParams.get('code'));
    t.notOk(url.searchParams.has('state'), 'no state');
  });
  t.test('the pushed state wins over one on the URL', async (t) => {
    const pushed = await push(h);
    const url = await authorizeAt(h, authorizationUrl('client-one', pushed.requestUri, { state: 'from-the-url' }));
    t.equal(url.searchParams.get('state'), pushed.state);
  });
  t.test('a different redirect_uri, scope or response_type on the URL is not used', async (t) => {
    const pushed = await push(h, 'client-one', { scope: 'openid accounts' });
    const extra = { redirect_uri: 'https://evil.example/steal', scope: 'openid transactions profile', response_type: 'token', response_mode: 'fragment' };
    const url = await authorizeAt(h, authorizationUrl('client-one', pushed.requestUri, extra));
    t.equal(url.origin + url.pathname, CALLBACK, 'the pushed redirect_uri');
    t.equal(url.hash, '', 'query response mode');
    const code = url.searchParams.get('code')!;
    const tokens = await redeem(h, code, pushed);
    t.equal(tokens.status, 200, status(tokens));
    t.equal(tokens.json.scope, 'openid accounts', 'the pushed scope');
  });
});

t.test('state and nonce of 500 characters come back exactly', async (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~ +/=&?%#:;,!*()';
  const long = (seed: number) => Array.from({ length: 500 }, (_, i) => alphabet[(i * 7 + seed) % alphabet.length]).join('');
  const state = long(1);
  const nonce = long(3);
  const pushed = await push(h, 'client-one', { state, nonce });
  const url = await authorizeAt(h, authorizationUrl('client-one', pushed.requestUri));
  t.equal(url.searchParams.get('state'), state, 'state');
  const tokens = await redeem(h, url.searchParams.get('code')!, pushed);
  t.equal(tokens.status, 200, status(tokens));
  t.equal(decodeJwt(tokens.json.id_token).nonce, nonce, 'nonce in the ID token');
});

t.test('no state pushed, no state returned', async (t) => {
  const pushed = await push(h, 'client-one', { state: undefined });
  const url = await authorizeAt(h, authorizationUrl('client-one', pushed.requestUri));
  t.ok(url.searchParams.get('code'));
  t.notOk(url.searchParams.has('state'));
  t.equal(url.searchParams.get('iss'), h.issuer);

  const denied = await authorizeAt(h, authorizationUrl('client-one', (await push(h, 'client-one', { state: undefined })).requestUri), { decision: 'deny' });
  t.equal(denied.searchParams.get('error'), 'access_denied');
  t.notOk(denied.searchParams.has('state'));
});

t.test('deny: redirect with access_denied, state and iss', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const url = redirected(t, await loginAndDecide(jar, await open(jar, pushed), 'deny'));
  t.equal(url.origin + url.pathname, CALLBACK);
  t.equal(url.searchParams.get('error'), 'access_denied');
  t.equal(url.searchParams.get('state'), pushed.state);
  t.notOk(url.searchParams.has('code'));
});

t.test('cancel on the login page: access_denied', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const page = await open(jar, pushed);
  const { action, csrf } = formOf(page.text);
  const url = redirected(t, await browserRequest(h, jar, action, { csrf, action: 'cancel' }));
  t.equal(url.searchParams.get('error'), 'access_denied');
  t.equal(url.searchParams.get('state'), pushed.state);
  t.notOk(url.searchParams.has('code'));
  errorPage(t, await open(jar, pushed), 'invalid_request_uri');
});

t.test('a wrong password shows the login page again with an error, without redirecting', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const page = await open(jar, pushed);
  const wrong = await login(jar, page, 'not-the-password');
  t.equal(wrong.status, 401);
  t.equal(wrong.headers.location, undefined, 'no redirect');
  t.ok(isLoginPage({ ...wrong, status: 200 }), 'the login page again');
  t.match(wrong.text, /role="alert"[^>]*>[^<]*incorrect/);
  t.notMatch(wrong.text, 'not-the-password', 'the password is not echoed');
  pageHeaders(t, wrong);
  // The right password still works afterwards.
  const url = redirected(t, await loginAndDecide(jar, wrong));
  t.ok(url.searchParams.get('code'));
});

t.test('a registered redirect URI with a query keeps it verbatim', async (t) => {
  const pushed = await push(h, 'client-one', { redirect_uri: CALLBACK_WITH_QUERY });
  const jar = new CookieJar();
  const done = await loginAndDecide(jar, await open(jar, pushed));
  const url = redirected(t, done);
  const location = done.headers.location as string;
  t.ok(location.startsWith(CALLBACK_WITH_QUERY + '&'), `starts with the registered URI: ${location}`);
  t.equal(url.searchParams.get('dummy1'), 'lorem');
  t.equal(url.searchParams.get('dummy2'), 'ipsum');
  t.equal(url.searchParams.get('state'), pushed.state);
  const code = url.searchParams.get('code')!;
  t.ok(code);
  const tokens = await redeem(h, code, pushed);
  t.equal(tokens.status, 200, 'redeemed with the registered URI, query and all');

  const denied = await push(h, 'client-one', { redirect_uri: CALLBACK_WITH_QUERY });
  const jar2 = new CookieJar();
  const deny = await loginAndDecide(jar2, await open(jar2, denied), 'deny');
  t.ok((deny.headers.location as string).startsWith(CALLBACK_WITH_QUERY + '&'), 'errors too');
  t.equal(redirected(t, deny).searchParams.get('error'), 'access_denied');
});

t.test('pages carry the security headers; no CORS on /authorize', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const origin = { origin: 'https://evil.example' };
  const loginPage = await browserRequestWith(jar, authorizationUrl('client-one', pushed.requestUri), origin);
  t.ok(isLoginPage(loginPage));
  pageHeaders(t, loginPage);
  t.equal(loginPage.headers['access-control-allow-origin'], undefined, 'no Access-Control-Allow-Origin');

  const signedIn = await login(jar, loginPage);
  const consent = await browserRequest(h, jar, signedIn.headers.location as string);
  t.ok(isConsentPage(consent));
  pageHeaders(t, consent);

  const error = await browserRequestWith(jar, '/authorize?client_id=client-one', origin);
  pageHeaders(t, error);
  t.equal(error.headers['access-control-allow-origin'], undefined);

  const preflight = await browserRequestWith(jar, '/authorize', { ...origin, 'access-control-request-method': 'POST' }, 'OPTIONS');
  t.not(preflight.status, 204, 'no successful preflight');
  t.equal(preflight.headers['access-control-allow-origin'], undefined);
  t.equal(preflight.headers['access-control-allow-methods'], undefined);
});

async function browserRequestWith(jar: CookieJar, url: string, headers: Record<string, string>, method = 'GET'): Promise<Response> {
  const res = await request(new URL(url, h.issuer + '/').toString(), { method: method as 'GET', headers: { cookie: jar.header(), ...headers }, dispatcher: h.agent() });
  jar.take(res.headers['set-cookie']);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text(), json: undefined };
}

t.test('CSRF: the login form needs its token, and the browser that started', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const page = await open(jar, pushed);
  const { action, csrf } = formOf(page.text);
  const credentials = { username: 'alice', password: 'wonderland', action: 'login' };

  const without = await browserRequest(h, jar, action, credentials);
  errorPage(t, without, 'invalid_request', 403);
  const wrong = await browserRequest(h, jar, action, { ...credentials, csrf: csrf.slice(0, -2) + (csrf.endsWith('AA') ? 'BB' : 'AA') });
  errorPage(t, wrong, 'invalid_request', 403);

  const elsewhere = await browserRequest(h, new CookieJar(), action, { ...credentials, csrf });
  errorPage(t, elsewhere, 'invalid_request', 400);
  t.equal(elsewhere.headers['set-cookie'], undefined, 'no session for the other browser');

  // None of it completed or spoiled the authorization.
  const url = redirected(t, await loginAndDecide(jar, page));
  t.ok(url.searchParams.get('code'));
});

t.test('CSRF: the consent form needs its token', async (t) => {
  const pushed = await push(h);
  const jar = new CookieJar();
  const signedIn = await login(jar, await open(jar, pushed));
  const consent = await browserRequest(h, jar, signedIn.headers.location as string);
  const { action, csrf } = formOf(consent.text);
  errorPage(t, await browserRequest(h, jar, action, { decision: 'approve' }), 'invalid_request', 403);
  errorPage(t, await browserRequest(h, new CookieJar(), action, { decision: 'approve', csrf }), 'invalid_request', 400);
  const url = redirected(t, await browserRequest(h, jar, action, { decision: 'approve', csrf }));
  t.ok(url.searchParams.get('code'));
});

t.test('the login session: a safe cookie, and the next authorization skips the login form', async (t) => {
  const jar = new CookieJar();
  const first = await push(h);
  const page = await open(jar, first);
  const signedIn = await login(jar, page);
  t.equal(signedIn.status, 303);
  const cookies = [signedIn.headers['set-cookie'] ?? []].flat();
  const session = cookies.find((c) => /^__Host-fgw-session=/.test(c));
  t.ok(session, 'a session cookie is set on login');
  for (const cookie of [session!, ...[page.headers['set-cookie'] ?? []].flat()]) {
    const attributes = cookie.split(';').slice(1).map((a) => a.trim().toLowerCase());
    t.ok(attributes.includes('secure'), `Secure: ${cookie.split('=')[0]}`);
    t.ok(attributes.includes('httponly'), `HttpOnly: ${cookie.split('=')[0]}`);
    t.ok(attributes.includes('samesite=lax'), `SameSite=Lax: ${cookie.split('=')[0]}`);
    t.ok(attributes.includes('path=/'), 'Path=/');
    t.notOk(attributes.some((a) => a.startsWith('domain=')), 'no Domain');
  }
  redirected(t, await decide(jar, await browserRequest(h, jar, signedIn.headers.location as string)));

  const second = await push(h);
  const again = await open(jar, second);
  t.ok(isConsentPage(again), 'straight to consent');
  const url = redirected(t, await decide(jar, again));
  t.equal(url.searchParams.get('state'), second.state);
  const tokens = await redeem(h, url.searchParams.get('code')!, second);
  t.equal(tokens.status, 200);
  t.equal(decodeJwt(tokens.json.id_token).sub, 'alice-7f3c');

  t.test('prompt=login forces the login form', async (t) => {
    const forced = await push(h, 'client-one', { prompt: 'login' });
    const res = await open(jar, forced);
    t.ok(isLoginPage(res), 'the login form despite the session');
    redirected(t, await loginAndDecide(jar, res));
  });

  t.test('prompt=none with a session: consent_required', async (t) => {
    const silent = await push(h, 'client-one', { prompt: 'none' });
    const url = redirected(t, await open(jar, silent));
    t.equal(url.origin + url.pathname, CALLBACK);
    t.equal(url.searchParams.get('error'), 'consent_required');
    t.equal(url.searchParams.get('state'), silent.state);
    t.notOk(url.searchParams.has('code'));
  });
});

t.test('prompt=none without a session: login_required', async (t) => {
  const silent = await push(h, 'client-one', { prompt: 'none' });
  const url = redirected(t, await open(new CookieJar(), silent));
  t.equal(url.searchParams.get('error'), 'login_required');
  t.equal(url.searchParams.get('state'), silent.state);
  t.notOk(url.searchParams.has('code'));
});

t.test('a profile that does not ask for consent every time remembers an approval for the session', async (t) => {
  const { readFile, writeFile, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { parse, stringify } = await import('yaml');
  const { startGateway: start } = await import('./helpers/harness.js');
  const { push: pushRequest, authorize: walk, CookieJar: Jar, browserRequest: visit } = await import('./helpers/flow.js');

  // fapi2 asks every time, and a policy may not relax that.
  const refused = await start({ configure: (c) => void (c.policy = { consent: { everyTime: false } }) }).then(
    async (g) => void (await g.close()),
    (err: { keyPath?: string }) => err,
  );
  t.equal(refused?.keyPath, 'policy.consent.everyTime');

  const profile = parse(await readFile(new URL('../profiles/fapi2.yaml', import.meta.url), 'utf8'));
  profile.name = 'remembering';
  profile.consent.everyTime = false;
  const dir = await mkdtemp(path.join(tmpdir(), 'profile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'remembering.yaml');
  await writeFile(file, stringify(profile));
  const g = await start({ configure: (c) => void (c.profile = file) });
  t.teardown(() => g.close());

  const jar = new Jar();
  const first = await walk(g, await pushRequest(g, 'client-one'), { jar });
  t.ok(first.searchParams.get('code'), 'first authorization: login and consent');
  const second = await pushRequest(g, 'client-one');
  const silent = await visit(g, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(second.requestUri)}`);
  t.equal(silent.status, 303, 'second authorization: no page, straight back with a code');
  t.ok(new URL(String(silent.headers.location)).searchParams.get('code'));
  const wider = await pushRequest(g, 'client-one', { scope: 'openid accounts transactions' });
  const asked = await visit(g, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(wider.requestUri)}`);
  t.equal(asked.status, 200, 'more scopes than approved: consent is asked');
  t.match(asked.text, /Allow access/);
  const forced = await pushRequest(g, 'client-one', { prompt: 'consent' });
  const prompted = await visit(g, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(forced.requestUri)}`);
  t.equal(prompted.status, 200, 'prompt=consent asks again');
});
