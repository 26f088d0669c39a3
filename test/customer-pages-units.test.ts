import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { createGateway } from '../src/app.js';
import { chooseLocale } from '../src/interaction/locales/index.js';
import { CATALOGUES } from '../src/interaction/locales/index.js';
import { contrastRatio } from '../src/interaction/ui/theme.js';
import { ClientLogos } from '../src/interaction/ui/client-logos.js';
import { BankAccounts, AccountsUnavailable } from '../src/interaction/ui/bank-accounts.js';
import { upstreamHeaders } from '../src/gateway/upstream-headers.js';
import type { Client } from '../src/clients/client.js';
import type { AccessTokenClaims } from '../src/tokens/access-token.js';
import type { RouteConfig } from '../src/config/schema.js';
import { testConfig, testPki } from './helpers/harness.js';
import { bankServer, BANK_LOGO_SVG } from './helpers/bank-pages.js';

// The customer pages' parts on their own: the language chosen, `ui:` checked at start (every problem
// names its key path), client logos bounded, the bank's account list checked, the chosen accounts upstream.

t.test('the language: ui_locales first, then Accept-Language by q, by primary language, else the default', async (t) => {
  const offered = ['en', 'pt-BR'];
  t.equal(chooseLocale(offered, 'en', ['pt-BR'], 'en-US,en;q=0.9'), 'pt-BR', 'ui_locales wins over the browser');
  t.equal(chooseLocale(offered, 'en', ['fr', 'pt'], undefined), 'pt-BR', 'the first ui_locale offered, by its primary language');
  t.equal(chooseLocale(offered, 'en', undefined, 'pt-BR,pt;q=0.9,en;q=0.8'), 'pt-BR', "a Brazilian browser");
  t.equal(chooseLocale(offered, 'en', undefined, 'en;q=0.5,pt-PT;q=0.9'), 'pt-BR', 'the higher q wins; pt-PT finds pt-BR');
  t.equal(chooseLocale(offered, 'en', undefined, 'de-DE,fr;q=0.9'), 'en', 'nothing offered: the default');
  t.equal(chooseLocale(offered, 'pt-BR', undefined, undefined), 'pt-BR', 'no preference: the default');
  t.equal(chooseLocale(offered, 'en', undefined, 'pt-BR;q=0'), 'en', 'q=0 is a refusal');
  t.equal(chooseLocale(['en'], 'en', ['pt-BR'], 'pt-BR'), 'en', 'a locale the deployment does not offer is never chosen');
  t.equal(chooseLocale(offered, 'en', undefined, 'x'.repeat(10_000)), 'en', 'a huge header is cut, not parsed whole');
});

t.test('every catalogue has every scope text the English one has (a locale is complete or it is not offered)', async (t) => {
  const english = Object.keys(CATALOGUES.en.scopes).sort();
  for (const [tag, catalogue] of Object.entries(CATALOGUES)) t.same(Object.keys(catalogue.scopes).sort(), english, `${tag}: the same scopes`);
});

t.test('the default colour and its darker shade meet WCAG AA with white', async (t) => {
  t.ok(contrastRatio('#0b5394', '#ffffff') >= 4.5);
  t.ok(contrastRatio('#ffcc00', '#ffffff') < 4.5, 'a yellow would not');
});

t.test('ui: a bad setting fails at start naming its key path', async (t) => {
  const { dir, pki } = await testPki();
  const files = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-ui-'));
  await writeFile(path.join(files, 'logo.svg'), BANK_LOGO_SVG);
  await writeFile(path.join(files, 'big.png'), Buffer.alloc(300 * 1024));
  await writeFile(path.join(files, 'logo.gif'), 'GIF89a');
  await writeFile(path.join(files, 'external.css'), '.bank {\n  background: url("https://cdn.example/bg.png");\n}\n');
  await writeFile(path.join(files, 'import.css'), '@import "https://fonts.example/font.css";\n');
  await writeFile(path.join(files, 'own.css'), '.bank { background-image: url(data:image/png;base64,AAAA); }\n');

  async function start(ui: Record<string, unknown>): Promise<unknown> {
    const config = await testConfig(pki);
    config.ui = ui;
    try {
      const gateway = await createGateway(await resolveConfig(config, dir, {}));
      await gateway.close();
      return undefined;
    } catch (err) {
      return err;
    }
  }
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['a text key that does not exist', { texts: { en: { 'consent.headng': 'Share?' } } }, 'ui.texts.en.consent.headng', /did you mean consent\.heading/],
    ['a sentence with values', { texts: { en: { 'consent.until': 'x' } } }, 'ui.texts.en.consent.until', /cannot be replaced/],
    ['texts for a locale not offered', { locales: ['en'], texts: { 'pt-BR': { 'consent.heading': 'x' } } }, 'ui.texts.pt-BR', /not one of the locales/],
    ['a locale without a catalogue', { locales: ['en', 'fr'] }, 'ui.locales[1]', /no catalogue for "fr"/],
    ['a default locale not offered', { locales: ['pt-BR'] }, 'ui.defaultLocale', /not one of the locales/],
    ['a light primary colour', { primaryColor: '#ffcc00' }, 'ui.primaryColor', /below WCAG AA/],
    ['a colour that is not #rrggbb', { primaryColor: 'blue' }, 'ui.primaryColor', /./],
    ['a logo file that is missing', { logo: 'no-such-logo.png' }, 'ui.logo', /cannot read/],
    ['a logo too large', { logo: path.join(files, 'big.png') }, 'ui.logo', /at most 262144/],
    ['a logo of another type', { logo: path.join(files, 'logo.gif') }, 'ui.logo', /must be a/],
    ['a stylesheet fetching from another site', { stylesheet: path.join(files, 'external.css') }, 'ui.stylesheet', /line 2 refers to another site/],
    ['a stylesheet importing', { stylesheet: path.join(files, 'import.css') }, 'ui.stylesheet', /line 1/],
    ['a support link over http', { supportUrl: 'http://bank.example/help' }, 'ui.supportUrl', /./],
    ['an unknown key', { bankname: 'Typo Bank' }, 'ui', /./],
    ['an accounts endpoint over http', { accounts: { url: 'http://bank.example/accounts' } }, 'ui.accounts.url', /./],
    ['scope details in a locale not offered', { locales: ['en'], scopes: { 'x:read': { title: 'X', details: { 'pt-BR': ['a'] } } } }, 'ui.scopes.x:read.details.pt-BR', /not one of the locales/],
  ];
  for (const [name, ui, keyPath, problem] of cases) {
    const err = await start(ui);
    t.ok(err instanceof ConfigError, `${name}: refused`);
    t.match((err as ConfigError).keyPath, keyPath === 'ui' ? /^ui/ : keyPath, `${name}: names ${keyPath}`);
    t.match((err as ConfigError).message, problem, `${name}: says why`);
  }
  t.equal(await start({ logo: path.join(files, 'logo.svg'), stylesheet: path.join(files, 'own.css'), primaryColor: '#0a4d3c', texts: { 'pt-BR': { 'consent.heading': 'Compartilhar?' } } }), undefined, 'good settings start');
});

t.test("client logos: fetched through the guarded fetch, size-limited, raster images only, kept", async (t) => {
  const { pki } = await testPki();
  const bank = await bankServer(pki);
  t.teardown(() => bank.close());
  const client = (logo_uri: string, id = 'c1') => ({ id, metadata: { logo_uri } }) as unknown as Client;
  const logos = new ClientLogos({ enabled: true, maxBytes: 8192, timeoutMs: 3000, allowPrivateAddresses: true, ca: pki.ca });
  const small = await logos.get(client(`${bank.url}/logo.png`));
  t.equal(small?.type, 'image/png', 'a small PNG is kept');
  t.equal(await logos.pathFor(client(`${bank.url}/logo.png`)), '/assets/clients/c1/logo');
  t.equal(await logos.get(client(`${bank.url}/big.png`, 'c2')), undefined, 'a logo past maxBytes is refused');
  t.equal(await logos.get(client(`${bank.url}/logo.svg`, 'c3')), undefined, 'an SVG is refused (it could carry script)');
  t.equal(await logos.get(client(`${bank.url}/missing.png`, 'c4')), undefined, 'a 404 is no logo');
  t.equal(await logos.get(client(bank.url.replace('https:', 'http:') + '/logo.png', 'c5')), undefined, 'http is never fetched');
  const guarded = new ClientLogos({ enabled: true, maxBytes: 8192, timeoutMs: 3000, allowPrivateAddresses: false, ca: pki.ca });
  t.equal(await guarded.get(client(`${bank.url}/logo.png`, 'c6')), undefined, 'a loopback address is refused unless allowed');
  const off = new ClientLogos({ enabled: false, maxBytes: 8192, timeoutMs: 3000, allowPrivateAddresses: true });
  t.equal(await off.get(client(`${bank.url}/logo.png`)), undefined, 'disabled: none fetched');
});

t.test("the bank's account list: checked, bounded, a failure never a half list", async (t) => {
  const { pki } = await testPki();
  const bank = await bankServer(pki);
  t.teardown(() => bank.close());
  const accounts = new BankAccounts({ url: `${bank.url}/accounts?region=au`, timeoutMs: 3000, ca: pki.ca });
  const list = await accounts.list('alice & co');
  t.equal(list.length, 3);
  t.same(bank.asked, ['alice & co'], 'asked with the customer sub');
  for (const [what, answer] of [
    ['a 500', { status: 500, body: '{}' }],
    ['not JSON', { status: 200, body: '<html>' }],
    ['no accounts member', { status: 200, body: '{"items":[]}' }],
    ['an account without a label', { status: 200, body: '{"accounts":[{"id":"a"}]}' }],
    ['a duplicate id', { status: 200, body: '{"accounts":[{"id":"a","label":"A"},{"id":"a","label":"B"}]}' }],
    ['too many accounts', { status: 200, body: JSON.stringify({ accounts: Array.from({ length: 101 }, (_, i) => ({ id: `a${i}`, label: 'A' })) }) }],
    ['too large', { status: 200, body: JSON.stringify({ accounts: [{ id: 'a', label: 'A', pad: 'x'.repeat(200_000) }] }) }],
  ] as const) {
    bank.answer = answer;
    await t.rejects(accounts.list('alice'), AccountsUnavailable, `${what}: AccountsUnavailable`);
  }
});

t.test('upstream: the chosen accounts in x-authenticated-account-ids; a client cannot send its own', async (t) => {
  const token = { client_id: 'c', sub: 's', scope: 'accounts', grant_id: 'g' } as AccessTokenClaims;
  const route = { prefix: '/accounts' } as RouteConfig;
  const seen = { ip: '127.0.0.1', host: 'localhost' };
  const headers = upstreamHeaders({ 'x-authenticated-account-ids': 'someone-elses', x_authenticated_account_ids: 'x' }, token, route, 'id', seen, undefined, ['acc-1', 'acc-2']);
  t.equal(headers['x-authenticated-account-ids'], 'acc-1,acc-2');
  t.notOk('x_authenticated_account_ids' in headers, 'the underscore spelling is dropped');
  const none = upstreamHeaders({ 'x-authenticated-account-ids': 'someone-elses' }, token, route, 'id', seen);
  t.notOk('x-authenticated-account-ids' in none, 'no choice made: no header, and not the client’s');
  const conventions = upstreamHeaders({}, token, route, 'id', seen, { 'x-authenticated-account-ids': 'by-convention' }, ['acc-1']);
  t.equal(conventions['x-authenticated-account-ids'], 'by-convention', "a route convention's value stands");
});
