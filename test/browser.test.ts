import t, { type Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, push, redeem } from './helpers/flow.js';
import { findProgram, requireProgram } from './helpers/programs.js';

// The login and consent pages in a real (headless) browser: labelled fields, the redirect back to the
// client through the pages' CSP (form-action), errors shown, and everything working without JavaScript.

const CALLBACK_PATTERN = 'https://client.localhost/**';
const SCREENSHOTS = path.join(tmpdir(), 'fapi-gateway-screenshots');

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let browser: Browser;

  t.before(async () => {
    const { chromium } = await import('playwright-core');
    h = await startGateway();
    browser = await chromium.launch({
      executablePath: findProgram('chromium')!,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  t.teardown(async () => {
    await browser?.close();
    await h?.close();
  });

  /** A fresh browser profile (cookies and all); the dev CA is not in the browser's trust store. */
  async function newContext(t: Test, options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
    t.teardown(() => context.close());
    return context;
  }

  /**
   * A page whose navigations to the client's redirect URI are answered by a stub (client.localhost does
   * not exist), and whose console messages (CSP violations among them) are collected.
   */
  async function newPage(context: BrowserContext): Promise<{ page: Page; console: string[] }> {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const messages: string[] = [];
    page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
    await page.route(CALLBACK_PATTERN, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>Back at the client</p>' }));
    return { page, console: messages };
  }

  async function openAuthorization(page: Page, client: 'client-one' | 'client-two' = 'client-one', overrides: Record<string, string | undefined> = {}) {
    const pushed = await push(h, client, overrides);
    const response = await page.goto(h.issuer + authorizationUrl(client, pushed.requestUri));
    return { pushed, status: response?.status() };
  }

  async function signIn(page: Page, password = 'wonderland'): Promise<void> {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  async function callbackUrl(page: Page): Promise<URL> {
    await page.waitForURL(CALLBACK_PATTERN);
    return new URL(page.url());
  }

  t.test('sign in and approve: the browser lands on the callback with code, state and iss', async (t) => {
    const context = await newContext(t);
    const { page, console } = await newPage(context);
    const { pushed, status } = await openAuthorization(page);
    t.equal(status, 200);
    t.equal(await page.title(), 'Sign in · Your bank', 'the page and the bank (the default name)');
    t.ok(await page.getByRole('heading', { name: 'Sign in' }).isVisible(), 'a Sign in heading');
    t.match(await page.locator('main').innerText(), 'Demo client one (private_key_jwt)', 'names the client');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wonderland');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'login.png'), fullPage: true });
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    const consent = await page.locator('main').innerText();
    t.match(consent, 'Demo client one (private_key_jwt)', 'the consent page names the client');
    t.match(consent, 'Confirm your identity', 'lists openid');
    t.match(consent, 'Your account details and balances', 'lists accounts');
    t.match(consent, 'Alice Example', 'names the user');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'consent.png'), fullPage: true });
    await page.getByRole('button', { name: 'Approve' }).click();

    const url = await callbackUrl(page);
    t.equal(url.origin + url.pathname, 'https://client.localhost/callback');
    t.ok(url.searchParams.get('code'), 'code');
    t.equal(url.searchParams.get('state'), pushed.state, 'state');
    t.equal(url.searchParams.get('iss'), h.issuer, 'iss');
    const tokens = await redeem(h, url.searchParams.get('code')!, pushed);
    t.equal(tokens.status, 200, 'the code redeems');
    t.same(console.filter((m) => /Content Security Policy|Refused to/i.test(m)), [], 'no CSP violations');

    t.test('the session: the next authorization in this browser goes straight to consent', async (t) => {
      const next = await newPage(context);
      await openAuthorization(next.page, 'client-one');
      await next.page.getByRole('heading', { name: 'Allow access?' }).waitFor();
      t.equal(await next.page.getByLabel('Password').count(), 0, 'no login form');
      await next.page.getByRole('button', { name: 'Approve' }).click();
      t.ok((await callbackUrl(next.page)).searchParams.get('code'));
    });
  });

  t.test('deny: error=access_denied at the callback', async (t) => {
    const { page } = await newPage(await newContext(t));
    const { pushed } = await openAuthorization(page, 'client-two');
    await signIn(page);
    await page.getByRole('button', { name: 'Deny' }).click();
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('error'), 'access_denied');
    t.equal(url.searchParams.get('state'), pushed.state);
    t.equal(url.searchParams.get('iss'), h.issuer);
    t.notOk(url.searchParams.has('code'));
  });

  t.test('cancel on the login page: error=access_denied at the callback', async (t) => {
    const { page } = await newPage(await newContext(t));
    await openAuthorization(page);
    await page.getByRole('button', { name: 'Cancel' }).click();
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('error'), 'access_denied');
  });

  t.test('a wrong password: an error shown, still on the login page', async (t) => {
    const { page } = await newPage(await newContext(t));
    await openAuthorization(page);
    await signIn(page, 'not-the-password');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    t.match(await alert.innerText(), /incorrect/i, 'the error message');
    t.ok(await page.getByLabel('Password').isVisible(), 'the password field is there again');
    t.equal(await page.getByLabel('Username').inputValue(), 'alice', 'the username is kept');
    t.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not');
    t.notMatch(page.url(), /client\.localhost/, 'not redirected');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'login-error.png'), fullPage: true });
    // And the right one then works.
    await signIn(page);
    await page.getByRole('button', { name: 'Approve' }).click();
    t.ok((await callbackUrl(page)).searchParams.get('code'));
  });

  t.test('an unknown request_uri: an error page, no redirect', async (t) => {
    const { page } = await newPage(await newContext(t));
    const response = await page.goto(h.issuer + authorizationUrl('client-one', 'urn:ietf:params:oauth:request_uri:unknown'));
    t.equal(response?.status(), 400);
    t.match(await page.getByRole('alert').innerText(), /expired or was already used/, 'plain words for the customer');
    t.match(await page.locator('details').innerText({ timeout: 5000 }).catch(() => ''), /Technical details/, 'the technical details collapsed');
    t.match(await page.content(), /<code>invalid_request_uri<\/code>[\s\S]*unknown/i, 'the code and description inside them');
    t.notMatch(page.url(), /client\.localhost/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'error.png'), fullPage: true });
  });

  t.test('the pages work with JavaScript disabled', async (t) => {
    const { page } = await newPage(await newContext(t, { javaScriptEnabled: false }));
    const { pushed } = await openAuthorization(page);
    await signIn(page);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Approve' }).click();
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('state'), pushed.state);
    t.ok(url.searchParams.get('code'));
  });

  t.test('the pages cannot be framed', async (t) => {
    const { page } = await newPage(await newContext(t));
    const pushed = await push(h);
    // Another site frames the login page.
    await page.route('https://framing.localhost/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: `<!doctype html><iframe src="${h.issuer}${authorizationUrl('client-one', pushed.requestUri)}"></iframe>` }),
    );
    // The load event of the host page waits for its iframe, blocked or not.
    await page.goto('https://framing.localhost/', { waitUntil: 'load' });
    const frame = page.frames().find((f) => f !== page.mainFrame());
    t.ok(frame, 'the host page has its iframe');
    t.equal(await frame!.locator('input[name="password"]').count(), 0, 'the login form does not render inside the frame');
    t.comment(`framed document: ${frame!.url()}`);
  });
}
