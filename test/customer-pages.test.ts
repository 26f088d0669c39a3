import t, { type Test } from 'tap';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, push, redeem, mtlsGet } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { CALLBACK_PATTERN, launchChromium } from './helpers/chromium.js';
import { ACCOUNTS, bankServer, BANK_LOGO_SVG, type BankServer } from './helpers/bank-pages.js';
import { recordingUpstream } from './helpers/upstream.js';

// The customer-facing pages as a bank's customer sees them, in a real Chromium: branded (logo,
// colour, footer, support and privacy links), in English and Portuguese, the consent page with the
// client's logo and links, grouped plain-language data, duration, account selection from the bank,
// the withdrawal notice; an error page. Screenshots at 1200 px and 390 px go to test-artifacts/
// (git-ignored); axe-core checks every page for serious or critical violations.

const ARTIFACTS = path.resolve('test-artifacts', 'customer-pages');
const require = createRequire(import.meta.url);
const axePath = (() => {
  try {
    return require.resolve('axe-core/axe.min.js');
  } catch {
    return undefined;
  }
})();

const TEXT = {
  en: { username: 'Username', password: 'Password', signIn: 'Sign in', consent: 'Allow access?', approve: 'Approve', chooseOne: 'Choose at least one account.' },
  'pt-BR': { username: 'Usuário', password: 'Senha', signIn: 'Entrar', consent: 'Autorizar o compartilhamento?', approve: 'Autorizar', chooseOne: 'Escolha pelo menos uma conta.' },
} as const;
type Locale = keyof typeof TEXT;
const CDS_SCOPES = ['common:customer.basic:read', 'bank:accounts.basic:read', 'bank:accounts.detail:read', 'bank:transactions:read', 'bank:regular_payments:read', 'bank:payees:read'];

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let bank: BankServer;
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  let browser: Browser;
  let axeSource = '';

  t.before(async () => {
    const { pki } = await (await import('./helpers/harness.js')).testPki();
    bank = await bankServer(pki);
    upstream = await recordingUpstream();
    const files = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-pages-'));
    await writeFile(path.join(files, 'logo.svg'), BANK_LOGO_SVG);
    h = await startGateway({
      configure: (config) => {
        config.ui = {
          bankName: 'Banco Exemplo',
          logo: path.join(files, 'logo.svg'),
          primaryColor: '#0a4d3c',
          supportUrl: 'https://bank.example/help',
          privacyUrl: 'https://bank.example/privacy',
          footer: { en: 'Banco Exemplo S.A. · Authorised deposit-taking institution', 'pt-BR': 'Banco Exemplo S.A. · Instituição autorizada pelo Banco Central do Brasil' },
          withdrawal: { where: { en: 'the Banco Exemplo app, under Profile › Connected apps', 'pt-BR': 'app do Banco Exemplo, em Perfil › Compartilhamentos' }, url: 'https://bank.example/connected-apps' },
          accounts: { url: `${bank.url}/accounts`, ca: pki.ca },
          clientLogos: { allowPrivateAddresses: true, ca: pki.ca },
        };
        Object.assign(config.clients[0], {
          client_name: 'Budget Buddy',
          logo_uri: `${bank.url}/logo.png`,
          client_uri: 'https://budgetbuddy.example',
          policy_uri: 'https://budgetbuddy.example/privacy',
          tos_uri: 'https://budgetbuddy.example/terms',
        });
        // A data holder's scopes, shown in the CDS data language.
        config.clients[1].client_name = 'Smart Saver';
        config.clients[1].scope = `openid profile ${CDS_SCOPES.join(' ')}`;
        config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000 }];
      },
    });
    browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
    if (axePath) axeSource = await readFile(axePath, 'utf8');
  });
  t.teardown(async () => {
    await browser?.close();
    await h?.close();
    await bank?.close();
    await upstream?.close();
  });

  async function open(t: Test, locale: Locale, width: number): Promise<{ page: Page; csp: string[] }> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale, viewport: { width, height: 900 } });
    t.teardown(() => context.close());
    await context.route(CALLBACK_PATTERN, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title>' }));
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const csp: string[] = [];
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && csp.push(m.text()));
    return { page, csp };
  }

  /** axe-core in the page (run through the debugging protocol: the page's CSP allows no script of its own). */
  async function accessible(t: Test, page: Page, name: string): Promise<void> {
    if (!axePath) {
      if (process.env.CI === 'true') t.fail('axe-core is not installed');
      else t.comment(`${name}: not checked, axe-core is not installed (npm install)`);
      return;
    }
    await page.evaluate(axeSource);
    const result = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`)) as {
      violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
    };
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    t.same(serious.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `${name}: no serious or critical axe violations`);
    const minor = result.violations.filter((v) => !serious.includes(v));
    if (minor.length) t.comment(`${name}: minor axe findings: ${minor.map((v) => v.id).join(', ')}`);
  }

  /** An image's natural width once it has loaded (0 when it cannot). */
  function loadedWidth(page: Page, selector: string): Promise<number> {
    return page
      .locator(selector)
      .evaluate((img: HTMLImageElement) =>
        img.complete ? img.naturalWidth : new Promise<number>((resolve) => ((img.onload = () => resolve(img.naturalWidth)), (img.onerror = () => resolve(0)))),
      );
  }

  async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  for (const locale of ['en', 'pt-BR'] as const)
    for (const width of [1200, 390]) {
      t.test(`${locale} at ${width} px: login, consent with accounts, an error page`, async (t) => {
        const words = TEXT[locale];
        const { page, csp } = await open(t, locale, width);
        const pushed = await push(h, 'client-one', { scope: 'openid profile accounts transactions' });
        await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
        t.equal(await page.getAttribute('html', 'lang'), locale, '<html lang>');
        await page.getByRole('heading', { name: words.signIn }).waitFor();
        t.match(await page.title(), `${words.signIn} · Banco Exemplo`);
        t.ok(await page.getByRole('banner').getByText('Banco Exemplo').isVisible(), "the bank's name in the header");
        t.ok((await loadedWidth(page, 'header img')) > 0, "the bank's logo, served by the gateway");
        t.ok(await page.getByRole('link', { name: locale === 'en' ? 'Help and support' : 'Ajuda e atendimento' }).isVisible(), 'the support link');
        await accessible(t, page, 'login');
        await page.getByLabel(words.username).fill('alice');
        await shoot(page, `login-${locale}-${width}`);
        await page.getByLabel(words.password).fill('wonderland');
        await page.getByRole('button', { name: words.signIn, exact: true }).click();

        await page.getByRole('heading', { name: words.consent }).waitFor();
        const main = await page.locator('main').innerText();
        t.match(main, 'Budget Buddy', 'names the client');
        t.equal(await loadedWidth(page, '.client img'), 64, "the client's logo, fetched and served by the gateway");
        t.equal(await page.getByRole('link', { name: locale === 'en' ? 'Privacy policy' : 'Política de privacidade' }).getAttribute('href'), 'https://budgetbuddy.example/privacy');
        t.match(main, locale === 'en' ? 'Your account details and balances' : 'Dados e saldos das suas contas', 'plain-language scope text');
        t.match(main, locale === 'en' ? 'Your transactions' : 'Suas transações', 'a group heading');
        t.notMatch(main, /\baccounts transactions\b|openid/, 'no raw scope strings');
        t.match(main, locale === 'en' ? /Up to 90 days/ : /Por até 90 dias/, 'for how long');
        t.match(main, locale === 'en' ? 'Profile › Connected apps' : 'Perfil › Compartilhamentos', 'where to withdraw it');
        for (const account of ACCOUNTS) t.ok(await page.getByLabel(account.label).isChecked(), `${account.label}: offered, ticked at first`);
        await accessible(t, page, 'consent');
        await shoot(page, `consent-${locale}-${width}`);

        // Nothing ticked: the page again, saying so.
        for (const account of ACCOUNTS) await page.getByLabel(account.label).uncheck();
        await page.getByRole('button', { name: words.approve, exact: true }).click();
        t.match(await page.getByRole('alert').innerText(), words.chooseOne);
        await accessible(t, page, 'consent, no account chosen');
        await page.getByLabel(ACCOUNTS[2].label).uncheck();
        await page.getByRole('button', { name: words.approve, exact: true }).click();
        await page.waitForURL(CALLBACK_PATTERN);
        const code = new URL(page.url()).searchParams.get('code');
        t.ok(code, 'back at the client with a code');
        t.same(csp, [], 'no CSP violations');

        if (locale === 'en' && width === 1200) {
          const tokens = (await redeem(h, code!, pushed)).json;
          const grant = await h.gateway.context.grants.get(decodeJwt(tokens.access_token).grant_id as string);
          t.same(grant?.accountIds, ['acc-1001', 'acc-1002'], 'the chosen accounts are kept with the grant');
          const before = upstream.received.length;
          const call = await mtlsGet(h, '/accounts/list', 'client-one', { authorization: `Bearer ${tokens.access_token}`, 'x-authenticated-account-ids': 'acc-9999' });
          t.equal(call.status, 200, 'the resource call goes through');
          const received = upstream.received.slice(before).at(-1);
          t.equal(received?.headers['x-authenticated-account-ids'], 'acc-1001,acc-1002', 'the upstream learns the chosen accounts, not what the client sent');
        }

        const error = await open(t, locale, width);
        await error.page.goto(h.issuer + authorizationUrl('client-one', 'urn:ietf:params:oauth:request_uri:unknown'));
        await error.page.getByRole('alert').waitFor();
        t.equal(await error.page.getAttribute('html', 'lang'), locale);
        t.ok(await error.page.locator('details').isVisible(), 'technical details in a collapsed block');
        t.notOk(await error.page.getByText('invalid_request').isVisible(), 'the error code is not shown until asked for');
        await accessible(t, error.page, 'error');
        await shoot(error.page, `error-${locale}-${width}`);
      });
    }

  t.test('CDR scopes in the CDS data language, grouped, their permissions under "What this includes"', async (t) => {
    const { page } = await open(t, 'en', 1200);
    const pushed = await push(h, 'client-two', { scope: `openid ${CDS_SCOPES.join(' ')}` });
    await page.goto(h.issuer + authorizationUrl('client-two', pushed.requestUri));
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wonderland');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    for (const summary of await page.locator('summary').all()) await summary.click();
    const main = await page.locator('main').innerText();
    for (const cluster of ['Name and occupation', 'Account name, type and balance', 'Account numbers and features', 'Transaction details', 'Direct debits and scheduled payments', 'Saved payees'])
      t.match(main, cluster, `the CDS cluster "${cluster}"`);
    t.match(main, 'Who you have sent money to and received money from', 'a permission of the cluster');
    t.notMatch(main, /bank:|common:/, 'no raw scope strings');
    await accessible(t, page, 'consent, CDS data language');
    await page.screenshot({ path: path.join(ARTIFACTS, 'consent-cds-en-1200.png'), fullPage: true });
  });

  t.test("the bank's accounts endpoint failing: an error page with a way back, the operator told", async (t) => {
    bank.answer = { status: 500, body: '{}' };
    t.teardown(() => void (bank.answer = undefined));
    const { page } = await open(t, 'en', 1200);
    const pushed = await push(h, 'client-one');
    const response = await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    t.equal(response?.status(), 200);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wonderland');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    t.match(await page.getByRole('alert').innerText(), 'Your accounts cannot be shown right now');
    t.equal(await page.getByRole('link', { name: 'Back to Budget Buddy' }).getAttribute('href'), 'https://budgetbuddy.example');
    t.ok(h.logs.some((line) => line.includes('"accounts_unavailable"') && line.includes('answered 500')), 'the cause is logged');
    await accessible(t, page, 'accounts unavailable');
    await shoot(page, 'error-accounts-unavailable-en-1200');
  });
}
