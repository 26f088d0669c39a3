import t from 'tap';
import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startGateway, type Harness, type Response } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';

// The resource front door against request-target tricks, spoofed headers, client-triggered errors,
// a hung upstream and responses cut short (hardening issue #11, reliability issue #23).

let h: Harness;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let token: string;
const HUNG_TIMEOUT_MS = 2000;

t.before(async () => {
  upstream = await recordingUpstream();
  h = await startGateway({
    configure: (config) => {
      config.metrics = { enabled: true };
      config.routes = [
        { prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], timeoutMs: 15_000 },
        { prefix: '/payments', upstream: upstream.url, scopes: ['payments'], methods: ['GET', 'POST'] },
        { prefix: '/accounts/admin', upstream: upstream.url, scopes: ['admin'], methods: ['GET'] },
        { prefix: '/ledger', upstream: `${upstream.url}/api/v1/`, scopes: ['accounts'], methods: ['GET'] },
        { prefix: '/hung', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'], timeoutMs: HUNG_TIMEOUT_MS, maxConnections: 2, maxPending: 2 },
      ];
    },
  });
  token = (await fullFlow(h, 'client-one', { scope: 'openid accounts' })).tokens.access_token;
});
t.teardown(async () => {
  await h.close();
  await upstream.close();
});

const mtlsPort = () => Number(new URL(h.mtlsBase).port);

/** Sends exactly `head` (and `body`) over TLS with client-one's certificate: no client library rewrites the target. */
async function rawTls(head: string, body?: string, port = mtlsPort()): Promise<Response & { raw: string }> {
  const pki = h.pki.clients['client-one'];
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: h.ca, cert: await readFile(pki.cert), key: await readFile(pki.key) });
  return exchange(socket, head, body);
}

async function rawPlain(port: number, head: string): Promise<Response & { raw: string }> {
  return exchange(netConnect({ host: '127.0.0.1', port }), head);
}

function exchange(socket: import('node:net').Socket, head: string, body?: string): Promise<Response & { raw: string }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
      socket.write(head);
      if (body === undefined) return;
      // With Expect: 100-continue the body goes only after the interim response.
      if (/expect: 100-continue/i.test(head)) {
        const waitForContinue = (chunk: Buffer) => {
          if (chunk.toString().startsWith('HTTP/1.1 100')) {
            socket.off('data', waitForContinue);
            socket.write(body);
          }
        };
        socket.on('data', waitForContinue);
      } else socket.write(body);
    });
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer')));
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(parse(raw)));
  });
}

function parse(raw: string): Response & { raw: string } {
  // Skip interim (1xx) responses.
  let rest = raw;
  while (/^HTTP\/1\.1 1\d\d/.test(rest)) rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
  const [head, ...bodyParts] = rest.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  const text = bodyParts.join('\r\n\r\n');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text, json, raw };
}

const get = (target: string, headers: Record<string, string> = {}) =>
  rawTls(
    `GET ${target} HTTP/1.1\r\nHost: localhost:${mtlsPort()}\r\nAuthorization: Bearer ${token}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}Connection: close\r\n\r\n`,
  );

const call = (path: string, headers: Record<string, string> = {}) =>
  h.get(`${h.mtlsBase}${path}`, { client: 'client-one', headers: { authorization: `Bearer ${token}`, ...headers } });

const errorLines = (from: number) =>
  h.logs.slice(from).filter((line) => {
    const entry = JSON.parse(line);
    return entry.level === 'error' || entry.level === 'fatal' || /\bstack\b|\n\s+at /.test(line);
  });

async function counter(name: 'upstreamErrors' | 'httpAborted', labels: Record<string, string>): Promise<number> {
  const metric = await h.gateway.context.metrics![name].get();
  const values = metric.values as { labels: Record<string, unknown>; value: number }[];
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((sum, v) => sum + v.value, 0);
}

async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await sleep(50);
  }
}

const logEntries = () => h.logs.map((line) => JSON.parse(line) as Record<string, any>);

t.test('path tricks never reach another route or path: 400 before the token is even looked at', async (t) => {
  const tricks = [
    '/accounts/x\\..\\..\\payments\\p-1',
    '/accounts\\..\\admin\\users',
    '/accounts/x/..\\..\\..\\admin\\users',
    '/accounts/../payments/p-1',
    '/accounts/./x',
    '/accounts/%2e%2e/payments/p-1',
    '/accounts/%2E%2E/payments/p-1',
    '/accounts/.%2e/payments/p-1',
    '/accounts/..%2fpayments/p-1',
    '/accounts/x%2f..%2f..%2fpayments',
    '/accounts/..%5cpayments',
    '/accounts/%5c..%5cpayments',
    '/accounts/%252e%252e/payments/p-1',
    '/accounts/%252e%252e%252fpayments',
    '/accounts/..;/payments/p-1',
    '/accounts/..%3b/payments/p-1',
    '/accounts/admin;x/users',
    '/accounts/admin%3b/users',
    '/accounts/admin%3Bx/users',
    '/accounts/ADMIN/users',
    '/accounts/admin./users',
    '/accounts/Admin../users',
    '/accounts/%41dmin/users',
    '/accounts//payments',
    '/accounts/p%00',
    'http://evil.example/accounts/1',
    'https://localhost/accounts/1',
    '*',
  ];
  upstream.received.length = 0;
  for (const target of tricks) {
    const res = await get(target);
    t.equal(res.status, 400, `${target}: ${res.status} ${res.text}`);
    t.equal(res.json?.error, 'invalid_request', target);
    t.match(res.headers['cache-control'], /no-store/, `${target}: no-store`);
    t.match(res.headers['content-type'], /application\/json/, target);
  }
  t.same(
    upstream.received.map((r) => r.url),
    [],
    'the upstream saw none of them',
  );
});

t.test("the other route's own path gets that route's 403, and well-formed unusual names pass as they are", async (t) => {
  upstream.received.length = 0;
  const other = await get('/payments/p-1');
  t.equal(other.status, 403, other.text);
  t.equal(other.json?.error, 'insufficient_scope');
  const narrower = await get('/accounts/admin/users');
  t.equal(narrower.status, 403, `a narrower route's path gets that route's 403: ${narrower.text}`);
  const odd = await get('/accounts/a.b/x..y/%41/~c?q=%2e%2e/x&r=%ff');
  t.equal(odd.status, 200, odd.text);
  t.same(
    upstream.received.map((r) => r.url),
    ['/accounts/a.b/x..y/%41/~c?q=%2e%2e/x&r=%ff'],
    'only the well-formed one, unchanged',
  );
});

t.test('an upstream with a base path gets it in front of the request path', async (t) => {
  upstream.received.length = 0;
  const res = await call('/ledger/e-1?x=1');
  t.equal(res.status, 200, res.text);
  const bare = await call('/ledger');
  t.equal(bare.status, 200, bare.text);
  t.same(
    upstream.received.map((r) => r.url),
    ['/api/v1/ledger/e-1?x=1', '/api/v1/ledger'],
  );
});

t.test('client-triggered errors are 400 on every listener, with no error-level log line and no stack', async (t) => {
  const from = h.logs.length;
  const mtls = [await get('/accounts?q=%zz'), await get('/accounts/%zz'), await get('/token?x=%zz'), await get('/accounts/%C0%AE%C0%AE')];
  for (const res of mtls) {
    t.equal(res.status, 400, res.text);
    t.equal(res.json?.error, 'invalid_request');
    t.match(res.headers['cache-control'], /no-store/);
    t.notMatch(res.text, /\bat \w|stack/i, 'no stack');
  }
  const issuerPort = Number(new URL(h.issuer).port);
  for (const target of ['/.well-known/openid-configuration?x=%zz', '/jwks/%zz', 'http://evil.example/.well-known/openid-configuration']) {
    const res = await rawTls(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, undefined, issuerPort);
    t.equal(res.status, 400, `public ${target}: ${res.text}`);
  }
  const opsPort = h.gateway.context.config.listeners.ops.port;
  for (const target of ['/healthz/%zz', '/metrics?x=%zz', 'http://evil.example/metrics']) {
    const res = await rawPlain(opsPort, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    t.equal(res.status, 400, `ops ${target}: ${res.text}`);
  }
  await sleep(100);
  t.same(errorLines(from), [], 'no error-level line, no stack');
  const lines = logEntries().slice(from).filter((e) => e.msg === 'request' && e.listener === 'mtls');
  t.ok(lines.length >= mtls.length, 'each refusal still has its request line');
});

t.test('look-alikes of the gateway headers and client forwarding or certificate headers never reach the upstream', async (t) => {
  upstream.received.length = 0;
  const spoofed: Record<string, string> = {
    X_Authenticated_Subject: 'mallory',
    'X-Authenticated_Client_Id': 'evil',
    x_authenticated_scope: 'payments',
    'X-Authenticated-Grant-Id': 'g',
    'X-Forwarded-For': '10.9.9.9',
    X_Forwarded_For: '10.9.9.8',
    Forwarded: 'for=10.9.9.9;proto=http',
    'X-Real-IP': '10.9.9.9',
    X_Real_Ip: '10.9.9.9',
    'X-Forwarded-Host': 'evil.example',
    'X-Forwarded-Proto': 'http',
    'X-Forwarded-Port': '80',
    'X-SSL-Client-Verify': 'SUCCESS',
    'X-SSL-Client-S-DN': 'CN=bank-admin',
    X_SSL_Client_Cert: 'forged',
    'X-Client-Cert': 'forged',
    'X-Client-Cert-Chain': 'forged',
    'Client-Cert': ':Zm9v:',
    'SSL-Client-Cert': 'forged',
    'X-Forwarded-Client-Cert': 'Hash=1',
    'X-Original-URL': '/admin/users',
    'X-Rewrite-URL': '/admin/users',
    X_Fapi_Interaction_Id: '11111111-1111-4111-8111-111111111111',
    X_Fapi_Customer_Ip_Address: 'not-an-ip',
    'True-Client-IP': '10.9.9.9',
  };
  const res = await call('/accounts/headers', spoofed);
  t.equal(res.status, 200, res.text);
  const got = upstream.received[0].headers;
  const names = Object.keys(got);
  for (const sent of Object.keys(spoofed)) {
    const lower = sent.toLowerCase();
    const dashed = lower.replaceAll('_', '-');
    t.notOk(names.includes(lower) && lower.includes('_'), `${sent} dropped`);
    if (['x-authenticated-subject', 'x-authenticated-client-id', 'x-authenticated-scope', 'x-authenticated-grant-id', 'x-fapi-interaction-id'].includes(dashed) || dashed.startsWith('x-forwarded-') || dashed === 'forwarded') continue;
    t.notOk(dashed in got, `${sent} dropped`);
  }
  t.equal(got['x-authenticated-subject'], 'alice-7f3c');
  t.equal(got['x-authenticated-client-id'], 'client-one');
  t.notMatch(String(got['x-authenticated-scope']), /payments/);
  t.not(got['x-authenticated-grant-id'], 'g');
  t.not(got['x-fapi-interaction-id'], '11111111-1111-4111-8111-111111111111');
  t.equal(got['x-forwarded-for'], '127.0.0.1', 'the address the gateway saw');
  t.equal(got['x-forwarded-proto'], 'https');
  t.equal(got['x-forwarded-host'], `localhost:${mtlsPort()}`);
  t.equal(got.forwarded, `for=127.0.0.1;proto=https;host="localhost:${mtlsPort()}"`);
  t.notOk('x-forwarded-port' in got);
  t.notOk(names.some((n) => n.includes('_')), `no underscore names at all: ${names.join(', ')}`);
});

t.test('Expect: 100-continue is answered by the gateway and not forwarded', async (t) => {
  upstream.received.length = 0;
  const body = '{"amount":"10.00"}';
  const res = await rawTls(
    `POST /accounts/transfer HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    body,
  );
  t.match(res.raw, /^HTTP\/1\.1 100 Continue\r\n/, 'the interim answer came first');
  t.equal(res.status, 200, res.text);
  t.equal(upstream.received.length, 1);
  t.equal(upstream.received[0].body, body);
  t.notOk('expect' in upstream.received[0].headers, 'expect is not forwarded');
});

t.test('a hung upstream: calls end within the route timeout, the pool and its queue overflow to 503 with Retry-After, counted', async (t) => {
  const overflowBefore = await counter('upstreamErrors', { route: '/hung', kind: 'overflow' });
  const timeoutsBefore = await counter('upstreamErrors', { route: '/hung', kind: 'timeout' });
  const timed = async (path: string) => {
    const started = Date.now();
    const res = await call(path);
    return { res, ms: Date.now() - started };
  };
  // Two take the connections, two wait in the queue, the rest are refused at once.
  const hung = [timed('/hung/hang-1'), timed('/hung/hang-2')];
  await eventually('two exchanges in flight', () => upstream.received.filter((r) => r.url.startsWith('/hung/hang')).length >= 2 || undefined);
  const queued = [timed('/hung/hang-3'), timed('/hung/hang-4')];
  await sleep(200);
  const normal = await timed('/hung/hang-5');
  t.comment(`a call past the queue was refused after ${normal.ms} ms`);
  t.equal(normal.res.status, 503, `a call past the queue is refused: ${normal.res.text}`);
  t.equal(normal.res.headers['retry-after'], '1', 'Retry-After');
  t.equal(normal.res.json?.error, 'temporarily_unavailable');
  t.match(String(normal.res.headers['cache-control']), /no-store/);
  const ended = await Promise.all([...hung, ...queued]);
  t.comment(`hung and queued calls ended after ${ended.map((e) => e.ms).join(', ')} ms (route timeout ${HUNG_TIMEOUT_MS} ms)`);
  for (const { res, ms } of ended) {
    t.equal(res.status, 504, res.text);
    // A bound, not a timing: a busy two-core CI machine has taken 19 s here; a hung call would never end.
    t.ok(ms < HUNG_TIMEOUT_MS + 60_000, `ended within the route timeout plus a margin (${ms} ms)`);
  }
  t.equal(await counter('upstreamErrors', { route: '/hung', kind: 'overflow' }), overflowBefore + 1, 'overflow counted');
  t.equal(await counter('upstreamErrors', { route: '/hung', kind: 'timeout' }), timeoutsBefore + 4, 'timeouts counted');
  // The slots are free again: the next call gets through to the upstream (and hangs until its timeout).
  upstream.received.length = 0;
  const after = await call('/hung/hang-6');
  t.equal(after.status, 504);
  t.equal(upstream.received.length, 1, 'reached the upstream');
});

t.test('clients that leave give up their place in the queue and their upstream exchange', async (t) => {
  upstream.received.length = 0;
  const failuresBefore = await counter('upstreamErrors', { route: '/hung' });
  const leaving = Array.from({ length: 4 }, () => new AbortController());
  const send = (path: string, controller: AbortController) =>
    request(`${h.mtlsBase}${path}`, { headers: { authorization: `Bearer ${token}` }, dispatcher: h.agent('client-one'), signal: controller.signal }).then(
      (res) => res.statusCode,
      (err: Error) => err.name,
    );
  const active = [send('/hung/hang-left-1', leaving[0]), send('/hung/hang-left-2', leaving[1])];
  await eventually('two exchanges in flight', () => upstream.received.length >= 2 || undefined);
  const queued = [send('/hung/hang-left-3', leaving[2]), send('/hung/hang-left-4', leaving[3])];
  await sleep(1000);
  for (const controller of leaving) controller.abort();
  t.same(await Promise.all([...active, ...queued]), ['AbortError', 'AbortError', 'AbortError', 'AbortError']);
  const ids = await eventually('four aborted request lines', () => {
    const lines = logEntries().filter((e) => e.msg === 'request' && e.route === '/hung/*' && e.aborted);
    return lines.length >= 4 ? lines : undefined;
  });
  t.ok(ids.length >= 4, 'each has its line');
  // Were the slots still held, this call would wait in the queue and never reach the upstream.
  const after = await call('/hung/hang-after');
  t.equal(after.status, 504, after.text);
  t.ok(upstream.received.some((r) => r.url === '/hung/hang-after'), 'the next call reached the upstream');
  t.not(upstream.received.some((r) => r.url === '/hung/hang-left-3' || r.url === '/hung/hang-left-4'), true, 'the queued calls that left never went upstream');
  t.equal(await counter('upstreamErrors', { route: '/hung' }), failuresBefore + 1, 'only the last call counts as an upstream failure');
});

t.test('an upstream reset mid-body is logged and counted; the request still has its line', async (t) => {
  const resetsBefore = await counter('upstreamErrors', { route: '/accounts', kind: 'reset' });
  const abortedBefore = await counter('httpAborted', { listener: 'mtls', route: '/accounts/*' });
  const res = await request(`${h.mtlsBase}/accounts/truncate`, { headers: { authorization: `Bearer ${token}` }, dispatcher: h.agent('client-one') });
  t.equal(res.statusCode, 200, 'the status line had gone out');
  const id = String(res.headers['x-fapi-interaction-id']);
  await t.rejects(res.body.arrayBuffer(), 'the body is cut short');
  const failure = await eventually('upstream_error line', () => logEntries().find((e) => e.reqId === id && e.event === 'upstream_error') ?? logEntries().find((e) => e.interactionId === id && e.event === 'upstream_error'));
  t.equal(failure.failure, 'reset');
  t.equal(failure.midBody, true);
  const line = await eventually('request line', () => logEntries().find((e) => e.msg === 'request' && e.interactionId === id));
  t.equal(line.aborted, true);
  t.equal(line.status, 200);
  t.equal(await counter('upstreamErrors', { route: '/accounts', kind: 'reset' }), resetsBefore + 1);
  t.equal(await counter('httpAborted', { listener: 'mtls', route: '/accounts/*' }), abortedBefore + 1);
});

t.test('a client leaving a long download is logged and counted, not blamed on the upstream', async (t) => {
  const abortedBefore = await counter('httpAborted', { listener: 'mtls', route: '/accounts/*' });
  const resetsBefore = await counter('upstreamErrors', { route: '/accounts' });
  const res = await request(`${h.mtlsBase}/accounts/stream`, { headers: { authorization: `Bearer ${token}` }, dispatcher: h.agent('client-one') });
  t.equal(res.statusCode, 200);
  const id = String(res.headers['x-fapi-interaction-id']);
  for await (const _chunk of res.body) break; // one chunk, then gone
  const line = await eventually('request line', () => logEntries().find((e) => e.msg === 'request' && e.interactionId === id));
  t.equal(line.aborted, true);
  t.equal(await counter('httpAborted', { listener: 'mtls', route: '/accounts/*' }), abortedBefore + 1);
  await sleep(200);
  t.equal(await counter('upstreamErrors', { route: '/accounts' }), resetsBefore, 'no upstream error');
  t.notOk(
    logEntries().some((e) => e.event === 'upstream_error' && (e.reqId === id || e.interactionId === id)),
    'no upstream_error line',
  );
});
