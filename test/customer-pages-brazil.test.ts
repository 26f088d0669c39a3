import t, { type Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { requireProgram } from './helpers/programs.js';
import { CALLBACK_PATTERN, launchChromium } from './helpers/chromium.js';
import { createConsent, pushConsent, startBrazil } from './helpers/brazil.js';
import type { Harness } from './helpers/harness.js';

// The Open Finance Brasil consent page with the bank's branding: the consent's permissions by their
// OFB names, its expiry as "for how long", the pack's accounts to choose; screenshots in
// test-artifacts/customer-pages/ at 1200 and 390 px.

const ARTIFACTS = path.resolve('test-artifacts', 'customer-pages');

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let browser: Browser;
  t.before(async () => {
    h = await startBrazil({
      configure: (config) => {
        config.ui = {
          bankName: 'Banco Exemplo',
          primaryColor: '#7a1f5c',
          supportUrl: 'https://banco.example/ajuda',
          privacyUrl: 'https://banco.example/privacidade',
          defaultLocale: 'pt-BR',
          footer: 'Banco Exemplo S.A. · CNPJ 00.000.000/0001-00',
          withdrawal: { where: { 'pt-BR': 'app do Banco Exemplo, em Open Finance › Meus compartilhamentos' }, url: 'https://banco.example/open-finance' },
        };
      },
    });
    browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
  });
  t.teardown(async () => {
    await browser?.close();
    await h?.close();
  });

  for (const width of [1200, 390])
    t.test(`pt-BR at ${width} px: permissions, expiry, accounts`, async (t: Test) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'pt-BR', viewport: { width, height: 900 } });
      t.teardown(() => context.close());
      await context.route(CALLBACK_PATTERN, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title>' }));
      const page: Page = await context.newPage();
      page.setDefaultTimeout(20_000);
      const expiry = new Date(Date.now() + 180 * 86_400_000);
      const consentId = await createConsent(h, 'client-one', { expirationDateTime: expiry.toISOString().replace(/\.\d{3}Z$/, 'Z') });
      const par = await pushConsent(h, consentId);
      await page.goto(`${h.issuer}/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: par.pushed!.requestUri })}`);
      await page.getByLabel('Usuário').fill('alice');
      await page.getByLabel('Senha').fill('wonderland');
      await page.getByRole('button', { name: 'Entrar', exact: true }).click();
      await page.getByRole('heading', { name: 'Autorizar o compartilhamento?' }).waitFor();
      const text = await page.locator('main').innerText();
      t.match(text, 'Saldos das contas', 'an OFB permission name');
      t.match(text, `Até ${new Intl.DateTimeFormat('pt-BR', { dateStyle: 'long', timeZone: 'UTC' }).format(expiry)}`, "the consent's expiry");
      t.match(text, 'Meus compartilhamentos', 'where to withdraw it');
      t.notMatch(text, 'consent:urn', 'no raw scope');
      await page.screenshot({ path: path.join(ARTIFACTS, `brazil-consent-pt-BR-${width}.png`), fullPage: true });
    });
}
