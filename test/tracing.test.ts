import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { connectHarness, testConfig, testPki, type Harness } from './helpers/harness.js';
import { authorize, CookieJar, mtlsGet, push, redeem } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { requireProgram } from './helpers/programs.js';
import { resolveConfig } from '../src/config/load.js';
import { createContext } from '../src/app.js';
import { otlpProtocol } from '../src/observability/tracing/tracing.js';
import { outboundUrlAttributes, pathOnly } from '../src/observability/tracing/redaction.js';

// OpenTelemetry tracing, end to end: a gateway process with tracing on exports to a collector started
// here (OTLP/HTTP with JSON bodies), over a whole authorization flow and a proxied resource call.

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
  scope: string;
}

/** An OTLP/HTTP receiver on loopback: JSON bodies decoded into spans, every body kept as it came. */
async function otlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const raw: { type: string; body: string }[] = [];
  const resources: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      raw.push({ type: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('latin1') });
      if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          resources.push(attributesOf(rs.resource?.attributes));
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                status: s.status ?? {},
                scope: ss.scope?.name ?? '',
              });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, spans, bodies, raw, resources, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function attributesOf(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = Object.values(value)[0];
  return out;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

t.test('tracing settings: bad values fail at start naming the key path', async (t) => {
  const { dir, pki } = await testPki();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ enabled: true, endpoint: 'not a url' }, /^tracing\.endpoint: /],
    [{ enabled: true, endpoint: 'ftp://collector/v1/traces' }, /^tracing\.endpoint: must be an http/],
    [{ enabled: true, endpoint: 'http://user:secret@collector:4318/v1/traces' }, /^tracing\.endpoint: must not carry credentials/],
    [{ enabled: true, protocol: 'grpc' }, /tracing\.protocol/],
    [{ enabled: true, sampleRatio: 1.5 }, /tracing\.sampleRatio/],
    [{ enabled: 'yes' }, /tracing\.enabled/],
    [{ enabled: true, colour: 'blue' }, /tracing/],
  ];
  for (const [tracing, expected] of cases) {
    const config = await testConfig(pki);
    config.tracing = tracing;
    await t.rejects(
      (async () => {
        const context = await createContext(await resolveConfig(config, dir, {}));
        await context.store.close();
      })(),
      { message: expected },
      JSON.stringify(tracing),
    );
  }
  t.equal(otlpProtocol({ enabled: true, acceptIncomingContext: false }, {}), 'http/protobuf', 'http/protobuf by default');
  t.equal(otlpProtocol({ enabled: true, acceptIncomingContext: false }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'http/json', 'the standard variable');
  t.throws(() => otlpProtocol({ enabled: true, acceptIncomingContext: false }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), { message: /^tracing\.protocol: .*grpc/ });
  t.equal(otlpProtocol({ enabled: true, protocol: 'http/json', acceptIncomingContext: false }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), 'http/json', 'the config wins');
});

t.test('URLs in spans lose their query strings', async (t) => {
  t.equal(pathOnly('/authorize?client_id=a&request_uri=urn%3Ax'), '/authorize');
  t.equal(pathOnly('/par'), '/par');
  t.same(outboundUrlAttributes('http://bank:8080', '/accounts/1?secret=x'), { 'url.full': 'http://bank:8080/accounts/1', 'url.path': '/accounts/1', 'url.query': '?redacted' });
  t.same(outboundUrlAttributes('http://bank:8080', '/accounts'), { 'url.full': 'http://bank:8080/accounts', 'url.path': '/accounts', 'url.query': '' });
});

t.test('a whole flow and a proxied call, traced to an OTLP receiver', async (t) => {
  if (!requireProgram(t, 'redis-server', 'apt-get install redis-server')) return;
  const receiver = await otlpReceiver();
  const upstream = await recordingUpstream();
  let redis: RedisServer | undefined;
  let gateway: GatewayProcess | undefined;
  t.teardown(async () => {
    await gateway?.stop();
    await redis?.stop();
    await upstream.close();
    await receiver.close();
  });
  redis = await startRedisServer();
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.store = { type: 'redis', url: redis.url, keyPrefix: `fapi-gateway-tracing:${randomUUID()}:` };
  config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'] }];
  config.tracing = { enabled: true, endpoint: receiver.url, protocol: 'http/json', serviceName: 'gateway-under-test' };
  gateway = await spawnGateway(config, { OTEL_BSP_SCHEDULE_DELAY: '100' });
  const h: Harness = await connectHarness({ pki, issuer: config.issuer, mtlsBase: config.listeners.mtls.url });

  // The flow, step by step, keeping every secret it handles to look for them in the spans.
  const pushed = await push(h, 'client-one', { scope: 'openid accounts' });
  const jar = new CookieJar();
  const redirect = await authorize(h, pushed, { jar });
  const code = redirect.searchParams.get('code')!;
  const tokenResponse = await redeem(h, code, pushed);
  t.equal(tokenResponse.status, 200, 'tokens issued');
  const tokens = tokenResponse.json;
  const interactionId = randomUUID();
  const incomingTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const resource = await mtlsGet(h, '/accounts/acc-1/transactions?fromBookingDateTime=2026-01-01&secretish=xyz', 'client-one', {
    authorization: `Bearer ${tokens.access_token}`,
    'x-fapi-interaction-id': interactionId,
    // A caller's trace context is not continued unless the deployment says so.
    traceparent: `00-${incomingTrace}-00f067aa0ba902b7-01`,
  });
  t.equal(resource.status, 200, 'the resource answered');

  const resourceSpan = await until('the resource request span', () => receiver.spans.find((s) => s.attributes['fapi.interaction_id'] === interactionId));
  const upstreamSpan = await until('the upstream call span', () =>
    receiver.spans.find((s) => s.traceId === resourceSpan.traceId && s.scope.includes('undici') && s.kind === 3),
  );
  await sleep(500);
  const spans = receiver.spans;
  const inTrace = (traceId: string) => spans.filter((s) => s.traceId === traceId);

  t.test('one trace per request, its root the request span with the interaction id', async (t) => {
    t.equal(resourceSpan.name, 'GET /accounts/*', 'named by method and route');
    t.equal(resourceSpan.kind, 2, 'a server span');
    t.equal(resourceSpan.parentSpanId, '', 'a root span');
    t.not(resourceSpan.traceId, incomingTrace, "the caller's traceparent is not continued");
    t.equal(resourceSpan.attributes['url.path'], '/accounts/acc-1/transactions', 'the path, without the query string');
    t.equal(resourceSpan.attributes['http.response.status_code'], 200);
    const roots = spans.filter((s) => s.parentSpanId === '' && s.scope === '@fastify/otel');
    t.ok(roots.length >= 6, `a root span per request (${roots.length})`);
    t.equal(new Set(roots.map((r) => r.traceId)).size, roots.length, 'each in its own trace');
    for (const root of roots) t.match(root.attributes['fapi.interaction_id'], /^[0-9a-f-]{36}$/, `${root.name}: interaction id`);
    for (const name of ['POST /par', 'GET /authorize', 'POST /token']) t.ok(roots.some((r) => r.name === name), `${name} traced`);
    t.equal(receiver.resources[0]['service.name'], 'gateway-under-test', 'the service name from the config');
    t.notOk('process.command_args' in receiver.resources[0], 'no command line in the resource');
  });

  t.test('the upstream call: a client span in the request trace, its traceparent sent upstream', async (t) => {
    const got = upstream.received.find((r) => r.url.startsWith('/accounts/acc-1/transactions'));
    t.ok(got, 'the upstream was called');
    const traceparent = String(got?.headers.traceparent);
    t.equal(traceparent, `00-${upstreamSpan.traceId}-${upstreamSpan.spanId}-01`, 'W3C traceparent naming the upstream call span');
    t.equal(got?.headers.tracestate, undefined, 'no tracestate invented');
    t.equal(got?.headers.baggage, undefined, 'no baggage');
    t.equal(upstreamSpan.attributes['url.full'], `${upstream.url}/accounts/acc-1/transactions`, 'the URL without its query');
    t.equal(upstreamSpan.attributes['url.query'], '?redacted');
    t.equal(upstreamSpan.attributes['http.response.status_code'], 200);
    // The upstream span hangs under the request span (through the handler's span).
    const ancestors = new Set<string>();
    for (let s: ReceivedSpan | undefined = upstreamSpan; s; s = spans.find((p) => p.spanId === s!.parentSpanId)) ancestors.add(s.spanId);
    t.ok(ancestors.has(resourceSpan.spanId), 'a descendant of the request span');
  });

  t.test('client authentication and store calls have spans, Redis commands too', async (t) => {
    const par = spans.find((s) => s.name === 'POST /par' && s.parentSpanId === '')!;
    const parSpans = inTrace(par.traceId);
    const auth = parSpans.find((s) => s.name === 'client authentication');
    t.ok(auth, 'a client authentication span');
    t.equal(auth?.attributes['oauth.client_id'], 'client-one');
    t.equal(auth?.attributes['oauth.client_auth_method'], 'private_key_jwt');
    const stores = parSpans.filter((s) => s.name.startsWith('store '));
    t.ok(stores.length > 0, `store spans (${stores.map((s) => s.name).join(', ')})`);
    for (const s of stores) {
      t.equal(s.attributes['db.system.name'], 'redis');
      t.equal(s.kind, 3, `${s.name}: a client span`);
    }
    // A sequence's span names the kinds of its steps, in order (PAR: the assertion's jti, then the request).
    t.ok(stores.some((s) => String(s.attributes['fapi.store.kind']).split(',').includes('par')), 'the pushed request stored');
    const redisCommands = parSpans.filter((s) => s.scope.includes('ioredis'));
    t.ok(redisCommands.length > 0, `Redis command spans (${redisCommands.map((s) => s.name).join(', ')})`);
    for (const command of redisCommands) {
      const statement = String(command.attributes['db.query.text'] ?? command.attributes['db.statement'] ?? '');
      t.notMatch(statement, /\s/, `${command.name}: the command name only (${statement})`);
      t.ok(stores.some((s) => s.spanId === command.parentSpanId), `${command.name}: under a store span`);
    }
    const token = spans.find((s) => s.name === 'POST /token' && s.parentSpanId === '')!;
    t.ok(inTrace(token.traceId).some((s) => s.name === 'client authentication'), 'the token request authenticates its client');
    t.ok(inTrace(token.traceId).some((s) => s.name.startsWith('store ') && String(s.attributes['fapi.store.kind']).split(',').includes('code')), 'the code looked up');
  });

  t.test('no secret in anything exported', async (t) => {
    const exported = receiver.bodies.join('\n');
    const secrets: Record<string, string> = {
      'access token': tokens.access_token,
      'refresh token': tokens.refresh_token,
      'ID token': tokens.id_token,
      code,
      request_uri: pushed.requestUri,
      'code verifier': pushed.verifier,
      state: pushed.state!,
      ...Object.fromEntries([...jar.cookies].map(([name, value]) => [`cookie ${name}`, value])),
    };
    for (const [name, value] of Object.entries(secrets)) {
      if (!value) continue;
      t.notOk(exported.includes(value), `no ${name}`);
      t.notOk(exported.includes(encodeURIComponent(value)), `no ${name} (URL-encoded)`);
    }
    t.notMatch(exported, /eyJ[A-Za-z0-9_-]{8,}\./, 'no JWT of any kind (assertions, tokens)');
    t.notMatch(exported, /client_assertion|request_uri=|code=|Bearer |secretish|fromBookingDateTime/i, 'no query strings, forms or headers');
    t.notMatch(exported, /http\.request\.header|http\.response\.header/, 'no headers captured');
    t.notMatch(exported, /"exception\./, 'no exception events (stack traces)');
  });
});

t.test('the default protocol: OTLP over HTTP with protobuf bodies', async (t) => {
  const receiver = await otlpReceiver();
  let gateway: GatewayProcess | undefined;
  t.teardown(async () => {
    await gateway?.stop();
    await receiver.close();
  });
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.tracing = { enabled: true };
  gateway = await spawnGateway(config, { OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'from-the-environment' });
  const h = await connectHarness({ pki, issuer: config.issuer, mtlsBase: config.listeners.mtls.url });
  const pushed = await push(h);
  // Protobuf keeps strings as they are: the span names and attribute values are in the body's bytes.
  const body = await until('a protobuf export with the PAR span', () => receiver.raw.find((b) => b.type === 'application/x-protobuf' && b.body.includes('POST /par'))?.body);
  t.ok(body.includes('from-the-environment'), 'OTEL_SERVICE_NAME applies when the config has no serviceName');
  t.ok(body.includes('client authentication'), 'the client authentication span');
  t.notOk(body.includes(pushed.requestUri), 'no request_uri');
  t.notOk(/eyJ[A-Za-z0-9_-]{8,}\./.test(body), 'no JWT (the client assertion)');
});

t.test('tracing off: no OpenTelemetry module is loaded', async (t) => {
  const { spawn } = await import('node:child_process');
  // A process that builds a gateway context with the default settings and lists what it imported.
  const script = `
    import { createRequire } from 'node:module';
    import { testConfig, testPki } from './test/helpers/harness.ts';
    import { resolveConfig } from './src/config/load.ts';
    import { createContext } from './src/app.ts';
    const { dir, pki } = await testPki();
    const context = await createContext(await resolveConfig(await testConfig(pki), dir, {}));
    await context.store.close();
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(cache.filter((f) => /@opentelemetry\\/(?!api\\/)|@fastify\\/otel|import-in-the-middle/.test(f))));
    process.exit(0);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  await new Promise((resolve) => child.once('exit', resolve));
  t.same(JSON.parse(out.trim().split('\n').at(-1) ?? 'null'), [], out.slice(0, 500));
});
