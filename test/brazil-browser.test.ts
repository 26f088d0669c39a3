import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { findProgram, requireProgram } from './helpers/programs.js';
import { createConsent, pushConsent, redeemCode, startBrazil } from './helpers/brazil.js';
import type { Harness } from './helpers/harness.js';

// The Brazil consent page in a real browser: the permissions in Portuguese for a Portuguese browser
// (or ui_locales=pt-BR), in English otherwise, and the customer's choice of accounts reaching the grant.

const CALLBACK_PATTERN = 'https://client.localhost/**';

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let browser: Browser;
  t.before(async () => {
    const { chromium } = await import('playwright-core');
    h = await startBrazil();
    browser = await chromium.launch({ executablePath: findProgram('chromium')!, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });
  t.teardown(async () => {
    await browser?.close();
    await h?.close();
  });

  async function open(t: Test, locale: string, parOverrides: Record<string, string> = {}) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale });
    t.teardown(() => context.close());
    const page: Page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const csp: string[] = [];
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && csp.push(m.text()));
    await page.route(CALLBACK_PATTERN, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title>' }));
    const consentId = await createConsent(h);
    const par = await pushConsent(h, consentId, 'client-one', parOverrides);
    await page.goto(`${h.issuer}/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: par.pushed!.requestUri })}`);
    // The login page speaks the browser's language too (Username/Usuário).
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill('wonderland');
    await page.getByRole('button', { name: /^(Sign in|Entrar)$/ }).click();
    return { page, par: par.pushed!, consentId, csp };
  }

  t.test('a Portuguese browser: the consent page in pt-BR, one account chosen', async (t) => {
    const { page, par, consentId, csp } = await open(t, 'pt-BR');
    await page.getByRole('heading', { name: 'Autorizar o compartilhamento?' }).waitFor();
    t.equal(await page.getAttribute('html', 'lang'), 'pt-BR');
    const text = await page.locator('main').innerText();
    for (const label of ['Saldos das contas', 'Dados das contas', 'Lista de produtos e serviços', 'Dados cadastrais (identificação)', 'Contas a compartilhar'])
      t.match(text, label, `shows "${label}"`);
    t.notMatch(text, 'consent:urn', 'the consent scope itself is not shown');
    t.ok(await page.getByLabel('Conta corrente 0001').isChecked(), 'accounts are ticked at first');
    await page.getByLabel('Conta corrente 0001').uncheck();
    await page.getByRole('button', { name: 'Autorizar' }).click();
    await page.waitForURL(CALLBACK_PATTERN);
    const code = new URL(page.url()).searchParams.get('code')!;
    t.ok(code, 'back at the client with a code');
    const tokens = (await redeemCode(h, code, par)).json;
    const grant = await h.gateway.context.grants.get(decodeJwt(tokens.access_token).grant_id as string);
    t.same((grant?.extensions.brazil as { accountIds?: string[] }).accountIds, ['acc-0002'], 'the chosen account only');
    t.same(decodeJwt(tokens.access_token).consent_id, consentId);
    t.same(csp, [], 'no CSP violations');
  });

  t.test('an English browser: the consent page in English; ui_locales=pt-BR asks for Portuguese', async (t) => {
    const english = await open(t, 'en-US');
    await english.page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    t.match(await english.page.locator('main').innerText(), 'Account balances');
    const asked = await open(t, 'en-US', { ui_locales: 'pt-BR' });
    await asked.page.getByRole('heading', { name: 'Autorizar o compartilhamento?' }).waitFor();
    t.match(await asked.page.locator('main').innerText(), 'Saldos das contas');
  });
}
