import t from 'tap';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { startGateway, type Harness } from './helpers/harness.js';
import { recordingUpstream } from './helpers/upstream.js';
import { takeErrorLogs, upstreamPathProblem } from './fuzz/answers.js';
import { rawExchange, type RawExchange } from './fuzz/raw-client.js';
import { rawCase, resourceCase, TOKEN, type RawCase } from './fuzz/raw-requests.js';
import { fullFlow } from './helpers/flow.js';
import { settledHeap } from './fuzz/memory.js';
import { FUZZ_RUNS, FUZZ_SEED, fuzzParameters, fuzzTimeout } from './fuzz/settings.js';

// Raw bytes over TLS to both listeners: malformed request lines and targets, bad percent-encoding, huge
// and injected headers, invalid or conflicting body framing, Expect, HTTP/0.9, pipelined garbage. The
// server answers 4xx (or closes the connection) without a 5xx or an error logged, and keeps serving.

let h: Harness;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let listeners: Record<'public' | 'mtls' | 'mtls-with-certificate', ConnectionOptions & { authority: string }>;
let baselineHeap = 0;
let token = '';

t.before(async () => {
  upstream = await recordingUpstream();
  h = await startGateway({
    configure: (config) => {
      config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], timeoutMs: 5_000, bodyLimitBytes: 4_096 }];
    },
  });
  token = (await fullFlow(h, 'client-one', { scope: 'openid accounts' })).tokens.access_token;
  const pub = new URL(h.issuer);
  const mtls = new URL(h.mtlsBase);
  const base = { host: '127.0.0.1', ca: h.ca, servername: 'localhost' };
  const certificate = { cert: await readFile(h.pki.clients['client-one'].cert), key: await readFile(h.pki.clients['client-one'].key) };
  listeners = {
    public: { ...base, port: Number(pub.port), authority: pub.host },
    mtls: { ...base, port: Number(mtls.port), authority: mtls.host },
    'mtls-with-certificate': { ...base, ...certificate, port: Number(mtls.port), authority: mtls.host },
  };
  t.comment(`fuzz seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per property (FUZZ_SEED / FUZZ_RUNS change them)`);
  h.logs.length = 0;
  baselineHeap = await settledHeap();
});
t.teardown(async () => {
  await h.close();
  await upstream.close();
});

/** The ways an exchange breaks the rules: a 5xx, an answer without a Date, no answer and no close, an error logged. */
function problemsWith(exchange: RawExchange): string[] {
  const problems: string[] = [];
  for (const res of exchange.responses) {
    if (res.status >= 500 && !(res.status === 503 && res.headers['retry-after'])) problems.push(`status ${res.status}: ${res.body.toString().slice(0, 200)}`);
    if (res.status >= 200 && !res.headers.date) problems.push(`${res.status} without a Date header: ${res.body.toString().slice(0, 200)}`);
  }
  if (exchange.responses.length === 0 && !exchange.closed) problems.push('no answer and the connection stayed open');
  if (exchange.responses.length === 0 && exchange.trailing.length > 0) problems.push(`unparseable answer: ${JSON.stringify(exchange.trailing.toString('latin1').slice(0, 200))}`);
  if (exchange.error) problems.push(`connection error ${exchange.error}`);
  return problems;
}

/** A plain request on a fresh connection still gets its answer (200 on the public listener, 404 on the mTLS one). */
async function stillServing(options: ConnectionOptions & { authority: string }): Promise<string[]> {
  const exchange = await rawExchange(options, Buffer.from(`GET /jwks HTTP/1.1\r\nHost: ${options.authority}\r\nConnection: close\r\n\r\n`));
  const status = exchange.responses[0]?.status;
  return status !== undefined && status < 500 && exchange.responses[0].headers.date ? [] : [`the next plain request got ${status ?? 'no answer'}${exchange.error ? ` (${exchange.error})` : ''}`];
}

t.test('requests Fastify refuses before routing get the OAuth JSON error with Date and no-store', async (t) => {
  const cases: Array<[string, (authority: string, post: string) => string, number]> = [
    ['a malformed request line', () => 'GARBAGE\r\n\r\n', 400],
    ['conflicting Content-Length and Transfer-Encoding', (a, post) => `POST ${post} HTTP/1.1\r\nHost: ${a}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['invalid chunk size', (a, post) => `POST ${post} HTTP/1.1\r\nHost: ${a}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, 400],
    ['a header with a bare CR', (a) => `GET /jwks HTTP/1.1\r\nHost: ${a}\r\nX-A: a\rInjected: 1\r\n\r\n`, 400],
    ['oversized headers', (a) => `GET /jwks HTTP/1.1\r\nHost: ${a}\r\nX-Huge: ${'h'.repeat(40_000)}\r\n\r\n`, 431],
    ['a path that is not valid percent-encoding', (a) => `GET /%zz HTTP/1.1\r\nHost: ${a}\r\n\r\n`, 400],
  ];
  // A POST to an endpoint of the listener: the body is read (and found malformed) before any answer.
  for (const [name, listener, post] of [['public', listeners.public, '/authorize'], ['mtls', listeners['mtls-with-certificate'], '/par']] as const) {
    for (const [what, request, status] of cases) {
      const exchange = await rawExchange(listener, Buffer.from(request(listener.authority, post), 'latin1'));
      const res = exchange.responses[0];
      t.equal(res?.status, status, `${what} on ${name}: ${status}`);
      if (!res) continue;
      t.ok(res.headers.date, 'Date');
      t.match(res.headers['cache-control']?.[0], /no-store/, 'Cache-Control: no-store');
      // A body that breaks off while the authorization endpoint reads it gets that endpoint's error page.
      if (/^text\/html/.test(res.headers['content-type']?.[0] ?? '')) t.match(res.body.toString(), /invalid_request/, 'an invalid_request page');
      else {
        t.match(res.headers['content-type']?.[0], /^application\/json/, 'JSON');
        t.equal(JSON.parse(res.body.toString()).error, 'invalid_request', 'invalid_request');
      }
    }
  }
  t.same(takeErrorLogs(h), [], 'nothing logged at error level');
});

/** Sends one raw case to `listener` and throws with an account of everything wrong about the exchange. */
async function rawCheck(listener: keyof typeof listeners, raw: RawCase, counter: { cases: number; previous: string }): Promise<void> {
  const options = listeners[listener];
  // The case carries a placeholder for the live token and the public listener's authority; both are filled in here.
  let text = raw.bytes.toString('latin1').split(TOKEN).join(token);
  if (listener !== 'public') text = text.split(listeners.public.authority).join(options.authority);
  upstream.received.length = 0;
  // A line logged since the last check belongs to the case before (its request was still being handled).
  const earlier = takeErrorLogs(h);
  const previous = counter.previous;
  counter.previous = raw.description;
  const exchange = await rawExchange(options, Buffer.from(text, 'latin1'), { mode: raw.pipelined ? 'pipelined' : 'answer' });
  const problems = problemsWith(exchange);
  // Checking after every case would double the cost; every tenth case and after any failure is enough.
  if (problems.length > 0 || ++counter.cases % 10 === 0) problems.push(...(await stillServing(options)));
  for (const { url } of upstream.received) {
    const problem = upstreamPathProblem(url, '/accounts');
    if (problem) problems.push(problem);
  }
  const errors = takeErrorLogs(h);
  if (errors.length > 0) problems.push(`error logged: ${errors.map((l) => l.slice(0, 600)).join(' | ')}`);
  if (earlier.length > 0) problems.push(`error logged after the previous case (${JSON.stringify(previous.slice(0, 300))}): ${earlier.map((l) => l.slice(0, 600)).join(' | ')}`);
  if (problems.length > 0)
    throw new Error(
      `${problems.join('; ')}\n  sent to ${listener}: ${JSON.stringify(raw.description.length > 600 ? raw.description.slice(0, 600) + '…' : raw.description)}\n  answers: ${exchange.responses.map((r) => r.status).join(', ') || 'none'}, closed ${exchange.closed}`,
    );
}

t.test('malformed requests get a 4xx or a closed connection, and the server keeps serving', { timeout: fuzzTimeout(400) }, async () => {
  const counter = { cases: 0, previous: '' };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('public', 'mtls', 'mtls-with-certificate') as fc.Arbitrary<keyof typeof listeners>,
      fc.constant(null).chain(() => rawCase(listeners.public.authority)),
      (listener, raw) => rawCheck(listener, raw, counter),
    ),
    fuzzParameters(1.5),
  );
  for (const listener of Object.values(listeners)) t.same(await stillServing(listener), [], `still serving on ${listener.port}`);
});

t.test('unusual targets and Expect on the resource route with a live token: a 4xx or the upstream answer, never a 5xx', { timeout: fuzzTimeout(300) }, async () => {
  const counter = { cases: 0, previous: '' };
  await fc.assert(
    fc.asyncProperty(
      fc.constant(null).chain(() => resourceCase(listeners.public.authority)),
      (raw) => rawCheck('mtls-with-certificate', raw, counter),
    ),
    fuzzParameters(0.5),
  );
});

t.test('memory stays flat after the raw requests', async (t) => {
  const heap = await settledHeap();
  t.comment(`heap after setup ${(baselineHeap / 2 ** 20).toFixed(1)} MiB, after the run ${(heap / 2 ** 20).toFixed(1)} MiB`);
  t.ok(heap - baselineHeap < 48 * 2 ** 20, `heap grew ${((heap - baselineHeap) / 2 ** 20).toFixed(1)} MiB`);
});
