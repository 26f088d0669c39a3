// The built-in login's hardening: a TOTP second factor (RFC 6238) for users that have one, the acr
// each path reaches as the config states it, an essential acr the login did not reach never claimed,
// and password guessing throttled (a growing delay, then a lockout the right password does not lift;
// the customer is told to wait). In Chromium, as a customer sees it.
import t from 'tap';
import { decodeJwt } from 'jose';
import { request } from 'undici';
import type { Browser, Page } from 'playwright-core';
import { MemoryStore } from '../src/store/memory.js';
import { LoginThrottle } from '../src/users/login-throttle.js';
import { TotpSecret } from '../src/users/totp.js';
import { hashPassword } from '../src/users/password.js';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, browserRequest, CookieJar, formOf, push, redeem } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { callbackUrl, launchChromium, newContext, newPage } from './helpers/chromium.js';

const LOA2 = 'urn:example:loa2';
const LOA3 = 'urn:example:loa3';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const totp = new TotpSecret(SECRET);

t.test('LoginThrottle: each failure waits twice as long as the one before, up to maxDelayMs', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const throttle = new LoginThrottle(store, { maxFailures: 10, maxFailuresPerAddress: 0, lockSeconds: 1, maxLockSeconds: 1, windowSeconds: 60, delayMs: 100, maxDelayMs: 500 });
  const delays = [];
  for (let i = 0; i < 5; i++) delays.push(await throttle.failed('someone', undefined));
  t.same(delays, [100, 200, 400, 500, 500]);
});

t.test('TotpSecret: the current step and one either side; malformed codes refused', async (t) => {
  const now = Date.now();
  t.type(totp.stepOf(totp.now(now), now), 'number');
  t.type(totp.stepOf(totp.now(now - 30_000), now), 'number', 'the previous step (clock drift)');
  t.equal(totp.stepOf(totp.now(now - 120_000), now), undefined, 'an old code');
  t.equal(totp.stepOf('12345', now), undefined);
  t.equal(totp.stepOf('abcdef', now), undefined);
});

t.test('a plain-text password outside NODE_ENV=development: refused at start, naming the key path', async (t) => {
  const err = await startGateway({ configure: (config) => void config.users.push({ username: 'bob', password: 'builder' }) }).then(
    (h) => (h.close(), undefined),
    (e: { keyPath?: string }) => e,
  );
  t.equal(err?.keyPath, 'users[1].password');
});

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let browser: Browser;
  t.before(async () => {
    h = await startGateway({
      async configure(config) {
        config.policy = { acrValues: [LOA2] };
        config.interaction = { acr: { password: [LOA2], passwordAndTotp: [LOA3, LOA2] } };
        config.users.push(
          { username: 'carol', passwordHash: await hashPassword('carol-pw'), sub: 'carol-1', totpSecret: SECRET, claims: { name: 'Carol Example' } },
          { username: 'dave', passwordHash: await hashPassword('dave-pw'), sub: 'dave-1' },
        );
        config.loginThrottle = { maxFailures: 5, maxFailuresPerAddress: 1000, lockSeconds: 60, maxLockSeconds: 600, windowSeconds: 600, delayMs: 20, maxDelayMs: 200 };
      },
    });
    browser = await launchChromium();
  });
  t.teardown(async () => {
    await browser?.close();
    await h?.close();
  });

  async function open(page: Page, overrides: Record<string, string | undefined> = {}) {
    const pushed = await push(h, 'client-one', overrides);
    await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    return pushed;
  }

  async function signIn(page: Page, username: string, password: string) {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  const essentialLoa3 = JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } });

  t.test('password and one-time code: the multi-factor acr, amr pwd+otp; a wrong or reused code refused', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { claims: essentialLoa3 });
    await signIn(page, 'carol', 'carol-pw');
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
    const code = totp.now();
    await page.getByLabel('One-time code').fill(code === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: 'Continue' }).click();
    t.match(await page.getByRole('alert').innerText(), 'The code is incorrect or was already used.');
    await page.getByLabel('One-time code').fill(code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    const tokens = await redeem(h, (await callbackUrl(page)).searchParams.get('code')!, pushed);
    const idToken = decodeJwt(tokens.json.id_token);
    t.equal(idToken.acr, LOA3, 'interaction.acr.passwordAndTotp');
    t.same(idToken.amr, ['pwd', 'otp', 'mfa']);

    // The same code again, in another browser: refused (one-time).
    const other = await newPage(await newContext(browser, t));
    await open(other);
    await signIn(other, 'carol', 'carol-pw');
    await other.getByLabel('One-time code').fill(code);
    await other.getByRole('button', { name: 'Continue' }).click();
    t.match(await other.getByRole('alert').innerText(), 'already used', 'a code is accepted once');
  });

  t.test('password only: the single-factor acr; an essential multi-factor acr is never claimed', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { acr_values: `${LOA3} ${LOA2}` });
    await signIn(page, 'dave', 'dave-pw');
    await page.getByRole('button', { name: 'Approve' }).click();
    const tokens = await redeem(h, (await callbackUrl(page)).searchParams.get('code')!, pushed);
    t.equal(decodeJwt(tokens.json.id_token).acr, LOA2, 'what the password reached, not what was asked');
    t.same(decodeJwt(tokens.json.id_token).amr, ['pwd']);

    const strict = await newPage(await newContext(browser, t));
    await open(strict, { claims: essentialLoa3 });
    await signIn(strict, 'dave', 'dave-pw');
    await strict.getByRole('button', { name: 'Approve' }).click();
    const url = await callbackUrl(strict);
    t.equal(url.searchParams.get('error'), 'access_denied', 'essential LOA3 without a second factor');
    t.notOk(url.searchParams.has('code'), 'no code, so no ID token');
  });

  t.test('a session without the second factor does not stand in for an essential multi-factor login', async (t) => {
    const context = await newContext(browser, t);
    const page = await newPage(context);
    await open(page);
    await signIn(page, 'carol', 'carol-pw');
    // Signed in with the password only, then abandoned: no session yet. Sign dave in to get one.
    const dave = await newPage(context);
    await open(dave);
    await dave.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signIn(dave, 'dave', 'dave-pw');
    await dave.getByRole('button', { name: 'Approve' }).click();
    await callbackUrl(dave);
    const next = await newPage(context);
    await open(next, { claims: essentialLoa3 });
    await next.getByRole('heading', { name: 'Sign in' }).waitFor();
    t.pass('asked to sign in again (step-up) rather than sent to consent');
  });

  t.test('throttling: the 6th attempt in a row is refused, the right password too, and the customer is told to wait', async (t) => {
    const page = await newPage(await newContext(browser, t));
    await open(page);
    for (let i = 1; i <= 5; i++) {
      await signIn(page, 'dave', `guess-${i}`);
      t.match(await page.getByRole('alert').innerText(), 'The username or password is incorrect.', `wrong password ${i}`);
    }
    await signIn(page, 'dave', 'dave-pw');
    const alert = await page.getByRole('alert').innerText();
    t.match(alert, /Too many failed sign-in attempts\. Wait \d+ seconds? and try again\./, 'the right password during the lockout: told to wait');
    t.notMatch(alert, /incorrect/, 'not told the password is wrong');
    t.ok(h.logs.some((l) => l.includes('"audit":"login_failed"')), 'audit login_failed');
    t.ok(h.logs.some((l) => l.includes('"audit":"login_throttled"')), 'audit login_throttled');
    const { host, port } = h.gateway.context.config.listeners.ops;
    const metrics = await (await request(`http://${host}:${port}/metrics`)).body.text();
    t.match(metrics, /fapi_gateway_login_failures_total\{reason="credentials"\} [1-9]/, 'failures counted');
    t.match(metrics, /fapi_gateway_login_failures_total\{reason="throttled"\} [1-9]/, 'refusals while locked counted');
  });

  t.test('an unknown user and a wrong password get the same answer', async (t) => {
    const answers = [];
    for (const username of ['alice', 'nobody-at-all']) {
      const pushed = await push(h);
      const jar = new CookieJar();
      const page = await browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri));
      const { action, csrf } = formOf(page.text);
      const res = await browserRequest(h, jar, action, { csrf, username, password: 'not-it', action: 'login' });
      answers.push({ status: res.status, text: res.text.replaceAll(csrf, 'CSRF').replaceAll(pushed.requestUri.split(':').pop()!, 'ID').replace(username, 'USER') });
    }
    t.same(answers[0], answers[1]);
  });
}
