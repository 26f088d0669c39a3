import t from 'tap';
import fc from 'fast-check';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, browserRequest, CookieJar, formOf, push } from './helpers/flow.js';
import { anyText, contentType, encode, formBody, headerSafe, httpMethod, pathSegment, queryString, requestHeaders } from './fuzz/arbitraries.js';
import { expectWellFormed, send, type AnswerKind, type Sent } from './fuzz/answers.js';
import { liveRecords, settledHeap, TrackingStore } from './fuzz/memory.js';
import { FUZZ_RUNS, FUZZ_SEED, fuzzParameters, fuzzTimeout } from './fuzz/settings.js';

// The public listener under random input: discovery and JWKS, the authorization endpoint (GET and POST)
// and the login and consent pages with random forms and cookies, some of them on a live interaction.

let h: Harness;
const store = new TrackingStore();
let baselineHeap = 0;
let interactionsStarted = 0;

t.before(async () => {
  h = await startGateway({ gatewayOptions: { store } });
  t.comment(`fuzz seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per property (FUZZ_SEED / FUZZ_RUNS change them)`);
  h.logs.length = 0;
  baselineHeap = await settledHeap();
});
t.teardown(() => h.close());

async function check(kind: AnswerKind, sent: Sent): Promise<void> {
  const res = await send(h.agent(), sent);
  expectWellFormed(h, sent, res, kind);
}

const withCookie = (headers: Record<string, string>, cookie: string | undefined) => (cookie === undefined ? headers : { ...headers, cookie: headerSafe(cookie) });

t.test('discovery and JWKS answer any request with JSON', { timeout: fuzzTimeout(100) }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks', '/.well-known/', '/.well-known/openid-configuration/x'),
      queryString,
      httpMethod,
      requestHeaders(),
      fc.option(formBody, { nil: undefined }),
      async (path, query, method, headers, body) => {
        await check('json', { method, url: `${h.issuer}${path}${query ? `?${query}` : ''}`, headers, body });
      },
    ),
    fuzzParameters(0.5),
  );
});

t.test('the authorization endpoint answers any query or form with a page or a redirect', { timeout: fuzzTimeout(150) }, async () => {
  // A live request_uri now and then, so the fuzzing reaches past the request_uri lookup.
  const live = await push(h);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE'),
      queryString,
      fc.boolean(),
      formBody,
      contentType,
      requestHeaders(),
      fc.option(anyText(200), { nil: undefined }),
      async (method, query, withLive, body, type, headers, cookie) => {
        const liveParams = withLive ? `client_id=client-one&request_uri=${encodeURIComponent(live.requestUri)}` : '';
        const fullQuery = [liveParams, query].filter(Boolean).join('&');
        const sentHeaders = withCookie({ ...headers, ...(type === undefined ? {} : { 'content-type': type }) }, cookie);
        const postBody = withLive && typeof body === 'string' ? [liveParams, body].filter(Boolean).join('&') : body;
        await check('page', { method, url: `${h.issuer}/authorize${method === 'POST' ? '' : fullQuery ? `?${fullQuery}` : ''}`, headers: sentHeaders, body: postBody });
      },
    ),
    fuzzParameters(1),
  );
});

/** A live interaction in a browser: its uid, csrf token and cookies. */
async function liveInteraction(): Promise<{ uid: string; csrf: string; jar: CookieJar }> {
  interactionsStarted++;
  const jar = new CookieJar();
  const pushed = await push(h);
  const page = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  const { action, csrf } = formOf(page.text);
  return { uid: action.split('/')[2], csrf, jar };
}

t.test('the login and consent pages answer any form and cookies with a page or a redirect', { timeout: fuzzTimeout(200) }, async () => {
  let live = await liveInteraction();
  let sinceRefresh = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      pathSegment,
      fc.constantFrom('login', 'consent', '', 'login/x', 'LOGIN'),
      fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'HEAD'),
      fc.array(
        fc.tuple(
          fc.constantFrom('csrf', 'username', 'password', 'action', 'decision', 'csrf', anyText(8) as unknown as string),
          fc.oneof(fc.constantFrom('alice', 'wonderland', 'approve', 'deny', 'cancel', 'login', 'LIVE_CSRF'), anyText(80)),
        ),
        { maxLength: 6 },
      ),
      fc.option(formBody, { nil: undefined }),
      fc.oneof(fc.constant('LIVE'), fc.constant(undefined), anyText(200)),
      contentType,
      requestHeaders(),
      async (onLive, segment, step, method, pairs, garbage, cookie, type, headers) => {
        if (++sinceRefresh > 20) {
          live = await liveInteraction();
          sinceRefresh = 0;
        }
        const uid = onLive ? live.uid : segment;
        const body =
          garbage ?? pairs.map(([k, v]) => `${encode(String(k), 'standard')}=${encode(v === 'LIVE_CSRF' ? live.csrf : v, 'standard')}`).join('&');
        const cookieHeader = cookie === 'LIVE' ? live.jar.header() : cookie;
        const sentHeaders = withCookie({ ...headers, ...(type === undefined ? {} : { 'content-type': type }) }, cookieHeader);
        await check('page', { method, url: `${h.issuer}/interaction/${uid}${step ? `/${step}` : ''}`, headers: sentHeaders, body });
      },
    ),
    fuzzParameters(1.5),
  );
});

t.test('unknown paths and methods on the public listener are JSON errors', { timeout: fuzzTimeout(100) }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(pathSegment, { minLength: 1, maxLength: 3 }), queryString, httpMethod, async (segments, query, method) => {
      await check('oauth', { method, url: `${h.issuer}/${segments.join('/')}${query ? `?${query}` : ''}` });
    }),
    fuzzParameters(0.5),
  );
});

t.test('memory stays flat: the heap and the store are bounded after the run', async (t) => {
  const heap = await settledHeap();
  const growth = heap - baselineHeap;
  t.comment(`heap after setup ${(baselineHeap / 2 ** 20).toFixed(1)} MiB, after the run ${(heap / 2 ** 20).toFixed(1)} MiB`);
  t.ok(growth < 48 * 2 ** 20, `heap grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
  const live = await liveRecords(store);
  t.comment(`live store records ${JSON.stringify(live.byKind)} after ${interactionsStarted} interactions`);
  // Each live interaction brings a pushed request, a spent assertion and its interaction, and perhaps a session
  // and a code; random requests add nothing.
  t.ok(live.total <= 6 * (interactionsStarted + 1) + 10, `${live.total} live records`);
});
