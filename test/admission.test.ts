import t from 'tap';
import { availableParallelism } from 'node:os';
import Fastify from 'fastify';
import { request } from 'undici';
import { installOAuthErrorHandling } from '../src/http/error-handler.js';
import { WorkLimiter, WorkRefused } from '../src/admission/work-limiter.js';
import { passwordHashingLimits } from '../src/admission/admission.js';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { startGateway, testConfig, testPki, type Harness } from './helpers/harness.js';
import { authorizationUrl, browserRequest, clientPost, CookieJar, formOf, fullFlow, push, refresh } from './helpers/flow.js';

// Password hashing is admitted within bounds: past its slots and queue a login is refused at once
// with a 503 page and Retry-After, counted and audited, /readyz says saturated, and the token
// endpoint keeps serving. The test holds the one hashing slot itself, so the flood is deterministic.

/** A piece of work the test finishes when it wants. */
function held(): { work: () => Promise<void>; release: () => void } {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return { work: () => done, release };
}

t.test('WorkLimiter: runs up to concurrency, queues up to queue, refuses the rest at once, hands slots over in order', async (t) => {
  const limiter = new WorkLimiter('test', { concurrency: 2, queue: 1, retryAfterSeconds: 3 });
  const [a, b, c] = [held(), held(), held()];
  const order: string[] = [];
  const runs = [
    limiter.run(a.work).then(() => order.push('a')),
    limiter.run(b.work).then(() => order.push('b')),
    limiter.run(async () => order.push('queued ran')),
  ];
  t.equal(limiter.running, 2, 'two running');
  t.equal(limiter.queued, 1, 'one waiting');
  t.equal(limiter.saturated, true, 'saturated: the next would be refused');
  const refused = await limiter.run(c.work).catch((err: unknown) => err);
  t.ok(refused instanceof WorkRefused, 'the fourth is refused');
  t.equal((refused as WorkRefused).retryAfterSeconds, 3, 'with the Retry-After');
  t.equal((refused as WorkRefused).work, 'test', 'naming the work');
  a.release();
  await Promise.all([runs[0], runs[2]]);
  t.same(order.sort(), ['a', 'queued ran'], 'the queued one runs in the slot the first one freed');
  t.equal(limiter.running, 1, 'one still running');
  b.release();
  await runs[1];
  t.equal(limiter.running, 0, 'all slots free');
  t.equal(limiter.queued, 0, 'nothing waiting');
  const failing = await limiter.run(() => Promise.reject(new Error('boom'))).catch((err: Error) => err.message);
  t.equal(failing, 'boom', 'a failure is passed on');
  t.equal(limiter.running, 0, 'and frees its slot');
});

t.test('password hashing defaults: one per core but one, leaving two libuv threads for token signing', async (t) => {
  const limits = passwordHashingLimits({ retryAfterSeconds: 2 });
  const cores = availableParallelism();
  t.equal(limits.concurrency, Math.max(1, Math.min(cores - 1, 2)), `concurrency ${limits.concurrency} on ${cores} cores with the default pool of 4`);
  t.equal(limits.queue, 4 * limits.concurrency, 'queue 4 × concurrency');
  t.same(passwordHashingLimits({ concurrency: 3, queue: 0, retryAfterSeconds: 5 }), { concurrency: 3, queue: 0, retryAfterSeconds: 5 }, 'configured values win');
});

t.test('a bad admission or loginThrottle value fails at start naming its key path', async (t) => {
  const { dir, pki } = await testPki();
  for (const [edit, keyPath] of [
    [(c: Record<string, any>) => void (c.admission = { passwordHashing: { concurrency: 0 } }), 'admission.passwordHashing.concurrency'],
    [(c: Record<string, any>) => void (c.admission = { passwordHashing: { queue: -1 } }), 'admission.passwordHashing.queue'],
    [(c: Record<string, any>) => void (c.admission = { passwordHashing: { retryAfterSeconds: 0 } }), 'admission.passwordHashing.retryAfterSeconds'],
    [(c: Record<string, any>) => void (c.admission = { hashing: {} }), 'admission.hashing'],
    [(c: Record<string, any>) => void (c.loginThrottle = { maxFailures: 0 }), 'loginThrottle.maxFailures'],
  ] as const) {
    const raw = await testConfig(pki);
    edit(raw);
    const err = await resolveConfig(raw, dir, {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, ConfigError, keyPath);
    t.equal((err as ConfigError).keyPath, keyPath, `names ${keyPath}`);
  }
});

let h: Harness;
t.before(async () => {
  h = await startGateway({
    configure: (config) => {
      config.admission = { passwordHashing: { concurrency: 1, queue: 2, retryAfterSeconds: 1 } };
    },
  });
});
t.teardown(() => h.close());

const ops = (path: string) => {
  const { host, port } = h.gateway.context.config.listeners.ops;
  return `http://${host}:${port}${path}`;
};
async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(ops('/readyz'));
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}
async function metric(name: string): Promise<number> {
  const text = await (await request(ops('/metrics'))).body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{work="password_hashing"}`));
  return Number(line?.split(' ').pop() ?? NaN);
}

/** A browser at the login form of a fresh authorization request. */
async function atLoginForm(): Promise<{ jar: CookieJar; action: string; csrf: string }> {
  const pushed = await push(h);
  const jar = new CookieJar();
  const page = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  if (page.status !== 200) throw new Error(`login page: ${page.status}`);
  return { jar, ...formOf(page.text) };
}

t.test('a flood of logins past the slots and the queue: 503 pages with Retry-After, counted, audited, /readyz saturated; tokens still served', async (t) => {
  const before = await fullFlow(h);
  const refreshToken = before.tokens.refresh_token as string;
  const forms = await Promise.all(Array.from({ length: 8 }, atLoginForm));
  t.equal((await readyz()).status, 200, 'ready before the flood');

  const limiter = h.gateway.context.admission.passwordHashing;
  const slot = held();
  const holding = limiter.run(slot.work);
  t.teardown(() => slot.release());

  const logins = forms.map(({ jar, action, csrf }) => browserRequest(h, jar, action, { csrf, username: 'alice', password: 'wonderland', action: 'login' }));
  // The two that queue stay in flight; the other six are answered at once.
  const settled = await Promise.all(logins.map((p) => Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 3000))])));
  const refused = settled.filter((r) => r !== 'pending' && r.status === 503);
  t.equal(refused.length, 6, 'six refused while the slot and the queue are full');
  t.equal(settled.filter((r) => r === 'pending').length, 2, 'two wait in the queue');
  for (const r of refused) {
    if (r === 'pending') continue;
    t.equal(r.headers['retry-after'], '1', 'Retry-After from the config');
    t.match(String(r.headers['content-type']), /^text\/html/, 'a page');
    t.match(r.text, '<code>temporarily_unavailable</code>', 'naming temporarily_unavailable');
    t.match(r.text, /busy right now/, 'saying why');
    t.notMatch(r.text, 'wonderland', 'no password echoed');
  }
  t.equal(await metric('fapi_gateway_admission_refused_total'), 6, 'the refusals are counted');
  t.equal(await metric('fapi_gateway_admission_queued'), 2, 'the queue gauge');
  t.equal(await metric('fapi_gateway_admission_running'), 1, 'the running gauge');
  t.equal(h.logs.filter((l) => l.includes('"audit":"admission_refused"') && l.includes('"work":"password_hashing"')).length, 6, 'one audit event per refusal');

  const saturated = await readyz();
  t.equal(saturated.status, 503, '/readyz not ready while saturated');
  t.same(saturated.body.saturated, ['password_hashing'], 'naming the saturated work');
  const settings = h.gateway.context.config.admission;
  settings.notReadyWhenSaturated = false;
  const reported = await readyz();
  settings.notReadyWhenSaturated = true;
  t.same(reported, { status: 200, body: { status: 'ready', saturated: ['password_hashing'] } }, 'notReadyWhenSaturated: false names it and stays ready');

  // Token issuance does not wait for password hashing.
  const credentials = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' });
  t.equal(credentials.status, 200, 'client credentials served during the flood');
  const refreshed = await refresh(h, refreshToken);
  t.equal(refreshed.status, 200, 'refresh served during the flood');

  slot.release();
  await holding;
  const queued = await Promise.all(logins);
  t.equal(queued.filter((r) => r.status === 303).length, 2, 'the queued logins complete once the slot is free');

  let ready = await readyz();
  for (let i = 0; i < 100 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ready = await readyz();
  }
  t.equal(ready.status, 200, 'ready again once nothing has been refused for Retry-After');
  await fullFlow(h);
  t.pass('a login succeeds again');
});

t.test('the JSON error handler maps a refusal to 503 temporarily_unavailable with Retry-After', async (t) => {
  const app = Fastify({ logger: false });
  installOAuthErrorHandling(app);
  app.get('/costly', () => {
    throw new WorkRefused('example', 7);
  });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/costly' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '7');
  t.equal(res.headers['cache-control'], 'no-store');
  t.same(res.json(), { error: 'temporarily_unavailable', error_description: 'the service is busy; retry later' });
});
