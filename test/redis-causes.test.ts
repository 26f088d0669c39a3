/**
 * An operator sees why Redis cannot serve: a refused connection, an unknown host, wrong or missing
 * credentials and a hanging server each get their own readiness answer and an error-level log line
 * naming the cause (rate-limited). A hanging Redis fails calls after the client's command timeout and
 * /readyz answers within its own shorter one.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { createStore } from '../src/store/create-store.js';
import { storeProblemLogger } from '../src/store/problem-log.js';
import { StoreUnavailableError, type Store } from '../src/store/store.js';
import { STORE_CALL_TIMEOUT_MS } from '../src/store/redis.js';
import { READINESS_PING_TIMEOUT_MS, storeReadiness } from '../src/observability/store-readiness.js';
import { freePort, parForm, startGateway, type Harness } from './helpers/harness.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer } from './helpers/redis-server.js';
import { opsGet, pollUntil } from './helpers/replicas.js';

const PASSWORD = 'the-right-secret-7f3a';
const WRONG = 'not-the-secret-91c2';

async function gatewayOn(url: string): Promise<Harness & { opsBase: string }> {
  let opsBase = '';
  const h = await startGateway({
    configure: (config) => {
      config.store = { type: 'redis', url, keyPrefix: 'fapi-gateway-causes:' };
      opsBase = `http://127.0.0.1:${config.listeners.ops.port}`;
    },
  });
  return Object.assign(h, { opsBase });
}

/** The first error-level log line about the store naming `cause`, within `ms`. */
async function logLine(h: Harness, cause: string, ms: number): Promise<{ line: Record<string, any> | undefined; elapsedMs: number }> {
  const { value, elapsedMs } = await pollUntil(async () => h.logs.map((l) => JSON.parse(l)).find((l) => l.cause === cause && l.store === 'redis'), ms);
  return { line: value, elapsedMs };
}

async function expectCause(t: Test, url: string, cause: string): Promise<Harness & { opsBase: string }> {
  const started = performance.now();
  const h = await gatewayOn(url);
  t.teardown(() => h.close());
  const { line, elapsedMs } = await logLine(h, cause, 5_000);
  t.ok(line, `the log names "${cause}" (${Math.round(elapsedMs)} ms after the gateway listened, ${Math.round(performance.now() - started)} ms after start)`);
  t.equal(line?.level, 'error', 'at error level');
  const ready = await pollUntil(async () => {
    const r = await opsGet(h, '/readyz');
    return r.json?.store === cause ? r : undefined;
  }, 5_000);
  t.same(ready.value, { status: 503, json: { status: 'not ready', store: cause } }, `/readyz answers 503 naming "${cause}"`);
  const par = await h.post('/par', { ...parForm(), ...(await h.assertionForm()) });
  t.equal(par.status, 503, 'an endpoint that needs the store answers 503');
  t.equal(par.json?.error, 'temporarily_unavailable');
  return h;
}

t.test('the problem log: one line per cause per interval, counting the rest', async (t) => {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const report = storeProblemLogger({ error: (fields, message) => lines.push({ fields, message }) }, 200);
  for (let i = 0; i < 5; i++) report({ cause: 'connection refused', detail: 'connect ECONNREFUSED 127.0.0.1:1' });
  report({ cause: 'authentication failed', detail: 'WRONGPASS invalid username-password pair' });
  t.same(lines.map((l) => l.fields.cause), ['connection refused', 'authentication failed'], 'one line per cause');
  await new Promise((r) => setTimeout(r, 250));
  report({ cause: 'connection refused', detail: 'connect ECONNREFUSED 127.0.0.1:1' });
  t.equal(lines.length, 3);
  t.equal(lines[2].fields.repeatedSinceLastLine, 4, 'the next line counts those not logged');
  t.match(lines[0].message, /connection refused/);
});

t.test('a refused connection is named', async (t) => {
  await expectCause(t, `redis://127.0.0.1:${await freePort()}`, 'connection refused');
});

t.test('an unknown host is named', async (t) => {
  await expectCause(t, 'redis://fapi-gateway-redis.invalid:6379', 'unknown host');
});

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  t.test('wrong and missing credentials are named as such, and no password is logged', async (t) => {
    const redis = await startRedisServer({ args: ['--requirepass', PASSWORD] });
    t.teardown(() => redis.stop());
    const wrong = await expectCause(t, `redis://:${WRONG}@127.0.0.1:${redis.port}`, 'authentication failed');
    t.match((await logLine(wrong, 'authentication failed', 0)).line?.detail, /^WRONGPASS/, 'the server\'s words are kept');
    const missing = await expectCause(t, redis.url, 'authentication failed');
    t.match((await logLine(missing, 'authentication failed', 0)).line?.detail, /^NOAUTH/);
    for (const h of [wrong, missing]) t.notOk(h.logs.some((l) => l.includes(WRONG) || l.includes(PASSWORD)), 'no password in the log');
    const metrics = await (await request(`${wrong.opsBase}/metrics`)).body.text();
    t.match(metrics, /fapi_gateway_store_connection_problems_total\{cause="authentication failed"\} [1-9]/, 'counted by cause in /metrics');
    const right = await gatewayOn(`redis://:${PASSWORD}@127.0.0.1:${redis.port}`);
    t.teardown(() => right.close());
    t.same((await pollUntil(async () => ((await opsGet(right, '/readyz')).status === 200 ? true : undefined), 5_000)).value, true, 'with the right password it is ready');
  });

  t.test('a hanging Redis: calls fail after the command timeout, /readyz answers within its own timeout naming it', async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    t.teardown(() => redis.resume());
    const h = await gatewayOn(redis.url);
    t.teardown(() => h.close());
    t.same((await pollUntil(async () => ((await opsGet(h, '/readyz')).status === 200 ? true : undefined), 5_000)).value, true, 'ready first');
    redis.pause();

    const readyStarted = performance.now();
    const ready = await opsGet(h, '/readyz');
    const readyMs = performance.now() - readyStarted;
    t.same(ready, { status: 503, json: { status: 'not ready', store: 'not responding' } }, `/readyz says "not responding" (${Math.round(readyMs)} ms; ping timeout ${READINESS_PING_TIMEOUT_MS} ms)`);
    t.ok(readyMs < 3_000, '/readyz does not wait for the command timeout (generous bound)');

    const callStarted = performance.now();
    // Sent while the readiness ping (also unanswered) is still in flight: it waits behind it in the client.
    const failure: Error = await h.gateway.context.store.get('par', 'x').then(() => new Error('answered'), (e: Error) => e);
    const callMs = performance.now() - callStarted;
    t.ok(failure instanceof StoreUnavailableError && failure.reason === 'not responding', `a store call fails as "not responding" (${Math.round(callMs)} ms)`);
    t.equal(STORE_CALL_TIMEOUT_MS, 1_000, 'the documented 1 s');
    t.match(failure.message, `within ${STORE_CALL_TIMEOUT_MS} ms`, "the store's own deadline ended it, not the client's timeout of the command queued behind the ping");
    t.ok(callMs < 5_000, 'within a generous bound of the 1 s command timeout');

    const parStarted = performance.now();
    const par = await h.post('/par', { ...parForm(), ...(await h.assertionForm()) });
    t.equal(par.status, 503, `PAR answers 503 (${Math.round(performance.now() - parStarted)} ms)`);
    t.ok((await logLine(h, 'not responding', 5_000)).line, 'the log names "not responding"');

    redis.resume();
    t.same((await pollUntil(async () => ((await opsGet(h, '/readyz')).status === 200 ? true : undefined), 10_000)).value, true, 'ready again once Redis answers');
  });
}

t.test('readiness names the cause a store gives, and a slow answer as "not responding"', async (t) => {
  const failing = { ping: () => Promise.reject(new StoreUnavailableError('x', undefined, 'authentication failed')) } as unknown as Store;
  t.equal(await storeReadiness(failing), 'authentication failed');
  const hanging = { ping: () => new Promise(() => undefined) } as unknown as Store;
  t.equal(await storeReadiness(hanging, 50), 'not responding');
  const fine = await createStore({ type: 'memory' });
  t.teardown(() => fine.close());
  t.equal(await storeReadiness(fine), undefined);
});

t.test('Redis replies and client errors map to causes', async (t) => {
  const { redisCause } = await import('../src/store/redis-causes.js');
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });
  t.equal(redisCause(new Error('WRONGPASS invalid username-password pair or user is disabled.')), 'authentication failed');
  t.equal(redisCause(new Error('NOAUTH Authentication required.')), 'authentication failed');
  t.equal(redisCause(new Error("NOPERM User gw has no permissions to run the 'getdel' command")), 'permission denied');
  t.equal(redisCause(new Error("OOM command not allowed when used memory > 'maxmemory'.")), 'out of memory');
  t.equal(redisCause(new Error('LOADING Redis is loading the dataset in memory')), 'server busy');
  t.equal(redisCause(errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1')), 'connection refused');
  t.equal(redisCause(errno('ENOTFOUND', 'getaddrinfo ENOTFOUND x.invalid')), 'unknown host');
  t.equal(redisCause(errno('EAI_AGAIN', 'getaddrinfo EAI_AGAIN redis')), 'unknown host');
  t.equal(redisCause(new Error('Command timed out')), 'not responding');
  t.equal(redisCause(errno('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames")), 'TLS handshake failed');
  t.equal(redisCause(new Error("Stream isn't writeable and enableOfflineQueue options is false")), undefined, 'says nothing: the last connection error will');
  t.equal(redisCause(errno('ECONNRESET', 'read ECONNRESET')), 'unreachable');
});
