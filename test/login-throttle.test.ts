import t from 'tap';
import crypto, { createHash } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { request } from 'undici';
import { DEMO_USER } from '../src/config/embedded.js';
import { MemoryStore } from '../src/store/memory.js';
import { UserDirectory } from '../src/users/directory.js';
import { LoginThrottle } from '../src/users/login-throttle.js';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, browserRequest, CookieJar, formOf, push } from './helpers/flow.js';

// Password guessing is slowed: failed logins lock the username (and the client address) for a
// growing period, and every login costs one scrypt whether the user is unknown, plain or hashed.

const HASH = '$scrypt$N=16384,r=8,p=1$D5tJaR0Ufle-yOjw08w4ow$FobMfWhxquSEp7eLkLmizKrpdpx8BPaT6vgXOPQWRVs'; // "wonderland"

t.test('unknown, plain-password and hashed users each run exactly one scrypt', async (t) => {
  const original = crypto.scrypt;
  let calls = 0;
  (crypto as { scrypt: unknown }).scrypt = (...args: unknown[]) => {
    calls++;
    return (original as (...a: unknown[]) => void)(...args);
  };
  syncBuiltinESMExports();
  t.teardown(() => {
    crypto.scrypt = original;
    syncBuiltinESMExports();
  });
  const users = new UserDirectory([
    { username: 'alice', passwordHash: HASH },
    { username: 'bob', password: 'builder' },
  ]);
  const cases: [string, string, boolean][] = [
    ['nobody', 'wonderland', false],
    ['bob', 'wrong', false],
    ['bob', 'builder', true],
    ['alice', 'wrong', false],
    ['alice', 'wonderland', true],
  ];
  for (const [username, password, ok] of cases) {
    calls = 0;
    const user = await users.authenticate(username, password);
    t.equal(Boolean(user), ok, `${username} / ${password}: ${ok ? 'accepted' : 'refused'}`);
    t.equal(calls, 1, `${username} / ${password}: one scrypt`);
  }
  let slots = 0;
  const counted = new UserDirectory([{ username: 'bob', password: 'builder' }], { run: (work) => (slots++, work()) });
  await counted.authenticate('bob', 'builder');
  await counted.authenticate('nobody', 'x');
  t.equal(slots, 2, 'every check takes a hashing slot');
});

const SETTINGS = { maxFailures: 3, maxFailuresPerAddress: 5, lockSeconds: 1, maxLockSeconds: 2, windowSeconds: 60 };

t.test('LoginThrottle: locks after maxFailures, for longer each time (capped), unknown names too; per address across names', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const throttle = new LoginThrottle(store, SETTINGS);
  for (let i = 0; i < 2; i++) await throttle.failed('ghost', undefined);
  t.equal(await throttle.lockFor('ghost', undefined), undefined, 'not locked below maxFailures');
  await throttle.failed('ghost', undefined);
  t.same(await throttle.lockFor('ghost', undefined), { scope: 'username', retryAfterSeconds: 1 }, 'an unknown name is locked like a known one');
  t.equal(await throttle.lockFor('other', undefined), undefined, 'other names are not');

  // Let each lock pass (as time would), then fail again: the second lock lasts twice as long, the third is capped.
  const ghost = `u:${createHash('sha256').update('ghost').digest('base64url')}`;
  const unlock = async () => {
    const record = await store.get<{ lockedUntil: number }>('login-failures', ghost);
    t.ok(record && record.lockedUntil > Date.now(), 'the record says until when');
    await store.set('login-failures', ghost, { ...record, lockedUntil: 0 }, 60);
  };
  await unlock();
  t.equal(await throttle.lockFor('ghost', undefined), undefined, 'unlocked');
  for (let i = 0; i < 3; i++) await throttle.failed('ghost', undefined);
  t.same(await throttle.lockFor('ghost', undefined), { scope: 'username', retryAfterSeconds: 2 }, 'the second lockout lasts twice as long');
  await unlock();
  for (let i = 0; i < 3; i++) await throttle.failed('ghost', undefined);
  t.same(await throttle.lockFor('ghost', undefined), { scope: 'username', retryAfterSeconds: 2 }, 'capped at maxLockSeconds');

  const fresh = new MemoryStore();
  t.teardown(() => fresh.close());
  const byAddress = new LoginThrottle(fresh, SETTINGS);
  for (let i = 0; i < 5; i++) await byAddress.failed(`name-${i}`, '192.0.2.7');
  t.same(await byAddress.lockFor('someone-new', '192.0.2.7'), { scope: 'address', retryAfterSeconds: 1 }, 'the address is locked after its failures across names');
  t.equal(await byAddress.lockFor('someone-new', '192.0.2.8'), undefined, 'other addresses are not');
  const off = new LoginThrottle(fresh, { ...SETTINGS, maxFailuresPerAddress: 0 });
  t.equal(await off.lockFor('someone-new', '192.0.2.7'), undefined, 'maxFailuresPerAddress 0 turns the address lock off');

  const third = new MemoryStore();
  t.teardown(() => third.close());
  const succeeding = new LoginThrottle(third, SETTINGS);
  for (let i = 0; i < 2; i++) await succeeding.failed('carol', undefined);
  await succeeding.succeeded('carol');
  await succeeding.failed('carol', undefined);
  t.equal(await succeeding.lockFor('carol', undefined), undefined, 'a right password clears the count');
});

let h: Harness;
t.before(async () => {
  h = await startGateway({ configure: (config) => void (config.loginThrottle = { ...SETTINGS, maxFailuresPerAddress: 100 }) });
});
t.teardown(() => h.close());

async function loginForm(): Promise<{ jar: CookieJar; action: string; csrf: string }> {
  const pushed = await push(h);
  const jar = new CookieJar();
  const page = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
  return { jar, ...formOf(page.text) };
}

t.test('wrong passwords lock the username: the right one is refused with 429 while locked, and works after the lock', async (t) => {
  const { jar, action, csrf } = await loginForm();
  const login = (password: string) => browserRequest(h, jar, action, { csrf, username: DEMO_USER.username, password, action: 'login' });
  for (let i = 0; i < SETTINGS.maxFailures; i++) {
    const wrong = await login(`guess-${i}`);
    t.equal(wrong.status, 401, `wrong password ${i + 1}: 401`);
  }
  const locked = await login(DEMO_USER.password);
  t.equal(locked.status, 429, 'the right password is refused while locked');
  t.match(locked.text, /Too many failed sign-in attempts. Wait \d+ seconds? and try again./, 'saying so');
  t.match(locked.text, 'name="password"', 'on the login page, as a wrong password is');
  t.notMatch(locked.text, DEMO_USER.password, 'no password echoed');
  t.equal(locked.headers['retry-after'], '1', 'Retry-After');
  t.ok(h.logs.some((l) => l.includes('"audit":"login_throttled"') && l.includes('"scope":"username"')), 'audit event login_throttled');
  const { host, port } = h.gateway.context.config.listeners.ops;
  const metrics = await (await request(`http://${host}:${port}/metrics`)).body.text();
  t.match(metrics, /fapi_gateway_logins_total\{outcome="throttled"\} [1-9]/, 'counted as throttled');
  t.match(metrics, /fapi_gateway_logins_total\{outcome="failed"\} 3/, 'and the failures');

  let after = locked;
  for (let i = 0; i < 40 && after.status === 429; i++) {
    await new Promise((r) => setTimeout(r, 250));
    after = await login(DEMO_USER.password);
  }
  t.equal(after.status, 303, 'the right password works once the lock has passed');
});

t.test('the address lock counts the browser a trusted proxy names, not the proxy', async (t) => {
  const proxied = await startGateway({
    configure: (config) => {
      config.loginThrottle = { ...SETTINGS, maxFailures: 100, maxFailuresPerAddress: 2 };
      config.tls.forwardedClientCertificate = { header: 'ssl-client-cert', trustedProxies: ['127.0.0.1', '::1'] };
    },
  });
  t.teardown(() => proxied.close());
  const attempt = async (browser: string, username: string) => {
    const pushed = await push(proxied);
    const jar = new CookieJar();
    const via = { 'x-forwarded-for': browser };
    const { action, csrf } = formOf((await browserRequest(proxied, jar, authorizationUrl('client-one', pushed.requestUri), undefined, via)).text);
    return browserRequest(proxied, jar, action, { csrf, username, password: 'wrong', action: 'login' }, via);
  };
  t.equal((await attempt('203.0.113.9', 'guess-1')).status, 401);
  t.equal((await attempt('203.0.113.9', 'guess-2')).status, 401);
  t.equal((await attempt('203.0.113.9', 'guess-3')).status, 429, 'that browser is locked after its failures');
  t.equal((await attempt('198.51.100.4', 'guess-4')).status, 401, 'another browser behind the same proxy is not');
  t.equal((await attempt('2001:db8:1:2::a', 'guess-5')).status, 401);
  t.equal((await attempt('2001:db8:1:2::b', 'guess-6')).status, 401);
  t.equal((await attempt('2001:db8:1:2::c', 'guess-7')).status, 429, 'IPv6 addresses of one /64 count as one');
});
