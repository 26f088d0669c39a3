import t from 'tap';
import fc from 'fast-check';
import { parForm, startGateway, type ClientName, type Harness } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';
import { contentType, encode, formBody, httpMethod, deepClaims, jwtShaped, nearValidValue, OAUTH_PARAMS, pathSegment, queryString, requestHeaders } from './fuzz/arbitraries.js';
import { expectWellFormed, send, upstreamPathProblem, type AnswerKind } from './fuzz/answers.js';
import { liveRecords, settledHeap, TrackingStore } from './fuzz/memory.js';
import { FUZZ_RUNS, FUZZ_SEED, fuzzParameters, fuzzTimeout } from './fuzz/settings.js';

// The mTLS listener under random input: PAR, token, introspection, revocation, UserInfo and a proxied
// resource route, with and without client certificates. Whatever arrives, the answer is well-formed
// (see fuzz/answers.ts), never a 5xx, nothing is logged at error level, and memory stays flat.

let h: Harness;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
const store = new TrackingStore();
let realTokens: string[] = [];
let successes = 0;
let assertionsSigned = 0;
let baselineHeap = 0;

t.before(async () => {
  upstream = await recordingUpstream();
  h = await startGateway({
    configure: (config) => {
      config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], timeoutMs: 5_000, bodyLimitBytes: 4_096 }];
    },
    gatewayOptions: { store },
  });
  const { tokens } = await fullFlow(h, 'client-one', { scope: 'openid profile accounts' });
  realTokens = [tokens.access_token];
  t.comment(`fuzz seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per property (FUZZ_SEED / FUZZ_RUNS change them)`);
  h.logs.length = 0;
  baselineHeap = await settledHeap();
});
t.teardown(async () => {
  await h.close();
  await upstream.close();
});

const client = fc.constantFrom<ClientName | null>('client-one', 'client-two', null);
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Sends one case and checks the answer; counts 2xx answers (each may leave records in the store). */
async function check(via: ClientName | null, kind: AnswerKind, sent: Parameters<typeof send>[1]): Promise<void> {
  upstream.received.length = 0;
  const res = await send(h.agent(via ?? undefined), sent);
  if (res.status >= 200 && res.status < 300) successes++;
  expectWellFormed(h, sent, res, kind);
  // Whatever the target looked like, the upstream sees only paths under the route's prefix, with no dot segments.
  for (const { url } of upstream.received) {
    const problem = upstreamPathProblem(url, '/accounts');
    if (problem) throw new Error(`${problem} for ${sent.method} ${sent.url}`);
  }
}

t.test('PAR, token, introspection and revocation answer any form with a well-formed answer', { timeout: fuzzTimeout(200) }, async (t) => {
  const assertion = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: jwtShaped },
    // A real assertion for client-one with random claims added: gets past signature checks to the endpoint's own.
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('aud', 'exp', 'iat', 'nbf', 'jti', 'extra', 'iss'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }).map((claims) => ({ real: claims })) },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/par', '/token', '/introspect', '/revoke'),
      fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'),
      client,
      formBody,
      assertion,
      contentType,
      requestHeaders(realTokens),
      async (path, method, via, body, extra, type, headers) => {
        let form = body;
        if (extra !== undefined && typeof form === 'string') {
          if (typeof extra !== 'string') assertionsSigned++;
          const jwt = typeof extra === 'string' ? extra : await h.assertion(extra.real as Record<string, unknown>).catch(() => 'x.y.z');
          form = `${form}${form ? '&' : ''}client_assertion_type=${encodeURIComponent(CLIENT_ASSERTION_TYPE)}&client_assertion=${encode(jwt, 'standard')}`;
        }
        const sentHeaders: Record<string, string> = { ...headers, ...(type === undefined ? {} : { 'content-type': type }) };
        delete sentHeaders['content-encoding']; // half the cases would only test the encoding refusal
        if (headers['content-encoding'] && headers['content-encoding'].length % 2 === 0) sentHeaders['content-encoding'] = headers['content-encoding'];
        await check(via, 'oauth', { method, url: h.mtlsBase + path, headers: sentHeaders, body: form });
      },
    ),
    fuzzParameters(2),
  );
});

t.test('a valid PAR or token request with a few parameters changed gets a well-formed answer', { timeout: fuzzTimeout(200) }, async () => {
  // client-two authenticates by its certificate: every case gets past client authentication to the endpoint's own checks.
  const TOKEN_FORMS: Record<string, string>[] = [
    { grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://client.localhost/callback', code_verifier: 'v'.repeat(43), client_id: 'client-two' },
    { grant_type: 'refresh_token', refresh_token: 'x', client_id: 'client-two' },
    { grant_type: 'client_credentials', scope: 'accounts', client_id: 'client-two' },
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: TOKEN_FORMS.length - 1 })),
      fc.array(
        fc.oneof(
          fc.tuple(fc.constantFrom(...OAUTH_PARAMS, 'scope', 'max_age', 'prompt', 'acr_values', 'authorization_details'), fc.option(nearValidValue, { nil: undefined })),
          fc.tuple(fc.constant('claims'), fc.oneof(nearValidValue, deepClaims)),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      // Raw: JSON sent unencoded (as `[`, `{`, `"` may be) fits four times deeper within the body limit.
      fc.constantFrom('standard', 'raw') as fc.Arbitrary<'standard' | 'raw'>,
      async (which, changes, how) => {
        const form: Record<string, string> = which === -1 ? parForm({ client_id: 'client-two' }) : { ...TOKEN_FORMS[which] };
        for (const [name, value] of changes) {
          if (value === undefined) delete form[name];
          else form[name] = value;
        }
        const body = Object.entries(form).map(([k, v]) => `${encode(k, how)}=${encode(v, how)}`).join('&');
        await check('client-two', 'oauth', { method: 'POST', url: h.mtlsBase + (which === -1 ? '/par' : '/token'), headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      },
    ),
    fuzzParameters(1),
  );
});

t.test('UserInfo and the resource route answer any request with a well-formed answer', { timeout: fuzzTimeout(150) }, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.constant('/userinfo'),
        fc.array(pathSegment, { maxLength: 3 }).map((segments) => ['/accounts', ...segments].join('/')),
      ),
      queryString,
      httpMethod,
      client,
      fc.option(formBody, { nil: undefined }),
      contentType,
      requestHeaders(realTokens),
      // Half the cases carry the live token over its certificate: they reach UserInfo's answer and the upstream.
      fc.boolean(),
      async (path, query, method, via, body, type, headers, authorized) => {
        const sentHeaders: Record<string, string> = { ...headers, ...(type === undefined ? {} : { 'content-type': type }) };
        if (authorized) {
          sentHeaders.authorization = `Bearer ${realTokens[0]}`;
          via = 'client-one';
        }
        await check(via, 'resource', { method, url: `${h.mtlsBase}${path}${query ? `?${query}` : ''}`, headers: sentHeaders, body });
      },
    ),
    fuzzParameters(1.5),
  );
});

t.test('unknown paths and methods on the mTLS listener are OAuth JSON errors', { timeout: fuzzTimeout(100) }, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(pathSegment, { minLength: 1, maxLength: 3 }).filter((s) => !['accounts', 'userinfo'].includes(s[0])),
      queryString,
      httpMethod,
      client,
      async (segments, query, method, via) => {
        await check(via, 'oauth', { method, url: `${h.mtlsBase}/${segments.join('/')}${query ? `?${query}` : ''}` });
      },
    ),
    fuzzParameters(0.5),
  );
});

t.test('memory stays flat: the heap and the store are bounded after the run', async (t) => {
  const heap = await settledHeap();
  const growth = heap - baselineHeap;
  t.comment(`heap after the first property ${(baselineHeap / 2 ** 20).toFixed(1)} MiB, after all ${(heap / 2 ** 20).toFixed(1)} MiB`);
  // Lax: the JIT, undici pools and fast-check's own state move the figure by a few MiB; a leak per request does not stay under this.
  t.ok(growth < 48 * 2 ** 20, `heap grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
  const live = await liveRecords(store);
  t.comment(`live store records ${JSON.stringify(live.byKind)} after ${successes} successful answers`);
  // Records are written only by requests that succeed (a pushed request, a revocation), by a valid assertion
  // (its jti is spent even when the request fails) and by the setup's flow; other failures leave nothing behind.
  t.ok(live.total <= 3 * successes + assertionsSigned + 20, `${live.total} live records for ${successes} successes and ${assertionsSigned} signed assertions`);
});
