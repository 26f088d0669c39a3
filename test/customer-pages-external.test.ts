// interaction.mode external with the bank's account list (ui.accounts): the interaction API gives the
// bank's app what the consent step shows (the accounts, for how long), checks the chosen account ids
// against that list, and the grant keeps them.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { Agent, request } from 'undici';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import { freePort, startGateway, testPki, type Harness } from './helpers/harness.js';
import { authorizationUrl, push, redeem } from './helpers/flow.js';
import { ACCOUNTS, bankServer, type BankServer } from './helpers/bank-pages.js';

let h: Harness;
let bank: BankServer;
let apiBase: string;
let bankAgent: Agent;

t.before(async () => {
  const { dir, pki } = await testPki();
  bank = await bankServer(pki);
  const bankCa = await createCa('O=Example Bank, CN=Example Bank login apps CA');
  const bankApp = await issueCertificate({ subject: 'O=Example Bank, CN=login-app', usage: 'client' }, bankCa);
  const bankCaFile = path.join(dir, 'bank-apps-ca-pages.pem');
  await writeFile(bankCaFile, bankCa.certPem);
  const apiPort = await freePort();
  h = await startGateway({
    configure(config) {
      config.listeners.interaction = { host: '127.0.0.1', port: apiPort };
      config.interaction = { mode: 'external', loginUrl: 'https://bank-app.localhost/login', clientCAs: [bankCaFile], acrValues: ['urn:example:loa2'] };
      config.ui = { accounts: { url: `${bank.url}/accounts`, ca: pki.ca } };
    },
  });
  apiBase = `https://localhost:${apiPort}`;
  bankAgent = new Agent({ connect: { ca: await readFile(pki.ca), cert: bankApp.certPem, key: bankApp.keyPem } });
});
t.teardown(async () => {
  await bankAgent?.close();
  await h?.close();
  await bank?.close();
});

async function api(method: 'GET' | 'POST', pathname: string, body?: unknown) {
  const res = await request(apiBase + pathname, { method, dispatcher: bankAgent, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

t.test('GET /interactions/{id} after login: the accounts to choose and the duration; the choice is checked and kept', async (t) => {
  const pushed = await push(h, 'client-one');
  const opened = await request(h.issuer + authorizationUrl('client-one', pushed.requestUri), { dispatcher: h.agent() });
  await opened.body.dump();
  const id = new URL(String(opened.headers.location)).searchParams.get('interaction_id')!;
  const cookie = String(opened.headers['set-cookie']).split(';')[0];

  const before = await api('GET', `/interactions/${id}`);
  t.notOk('accounts' in before.json, 'no accounts before anybody signed in');
  t.same(before.json.duration, { refresh_token_lifetime: 7776000 }, 'for how long: the refresh-token lifetime');
  t.equal((await api('POST', `/interactions/${id}/login`, { sub: 'customer-8812' })).status, 200);
  const after = await api('GET', `/interactions/${id}`);
  t.same(after.json.accounts, ACCOUNTS, "the bank's list for this customer");
  t.equal(bank.asked.at(-1), 'customer-8812', 'asked with the customer sub');

  const unknown = await api('POST', `/interactions/${id}/consent`, { account_ids: ['acc-1001', 'acc-9999'] });
  t.match(unknown, { status: 400, json: { error: 'invalid_request', error_description: /acc-9999/ } }, 'an account not offered is refused');

  bank.answer = { status: 503, body: '' };
  const down = await api('POST', `/interactions/${id}/consent`, { account_ids: ['acc-1001'] });
  t.match(down, { status: 503, json: { error: 'temporarily_unavailable' } }, "the bank's list unavailable: 503, the app may retry");
  bank.answer = undefined;

  t.equal((await api('POST', `/interactions/${id}/consent`, { account_ids: ['acc-1003'] })).status, 200);
  const resumed = await request(`${h.issuer}/authorize/resume/${id}`, { dispatcher: h.agent(), headers: { cookie } });
  await resumed.body.dump();
  t.equal(resumed.statusCode, 303);
  const code = new URL(String(resumed.headers.location)).searchParams.get('code');
  const tokens = (await redeem(h, code!, pushed)).json;
  const grant = await h.gateway.context.grants.get(decodeJwt(tokens.access_token).grant_id as string);
  t.same(grant?.accountIds, ['acc-1003'], 'the grant keeps the chosen account');
});

t.test('built-in pages with ui.accounts: only offered ids count; a remembered approval keeps the accounts chosen then', async (t) => {
  const { derivedProfile } = await import('./helpers/derived-profile.js');
  const { CookieJar, browserRequest, formOf } = await import('./helpers/flow.js');
  const { pki } = await testPki();
  const profile = await derivedProfile({ name: 'remembering-accounts', consent: { everyTime: false } });
  const g = await startGateway({
    configure(config) {
      config.profile = profile;
      config.ui = { accounts: { url: `${bank.url}/accounts`, ca: pki.ca } };
    },
  });
  t.teardown(() => g.close());
  const jar = new CookieJar();
  const open = async () => {
    const pushed = await push(g, 'client-one');
    return { pushed, page: await browserRequest(g, jar, authorizationUrl('client-one', pushed.requestUri)) };
  };
  const first = await open();
  const login = formOf(first.page.text);
  const signedIn = await browserRequest(g, jar, login.action, { csrf: login.csrf, username: 'alice', password: 'wonderland', action: 'login' });
  const consent = await browserRequest(g, jar, signedIn.headers.location as string);
  t.match(consent.text, 'name="account-0" value="acc-1001"', 'the accounts are offered');
  const form = formOf(consent.text);
  const forged = await browserRequest(g, jar, form.action, { csrf: form.csrf, decision: 'approve', 'account-0': 'acc-9999' });
  t.equal(forged.status, 400, 'an id that was not offered counts for nothing: choose again');
  t.match(forged.text, 'Choose at least one account.');
  const approved = await browserRequest(g, jar, form.action, { csrf: form.csrf, decision: 'approve', 'account-1': 'acc-1002' });
  t.equal(approved.status, 303);
  const grantOf = async (location: string, pushed: Awaited<ReturnType<typeof push>>) => {
    const tokens = (await redeem(g, new URL(location).searchParams.get('code')!, pushed)).json;
    return g.gateway.context.grants.get(decodeJwt(tokens.access_token).grant_id as string);
  };
  t.same((await grantOf(approved.headers.location as string, first.pushed))?.accountIds, ['acc-1002']);
  const second = await open();
  t.equal(second.page.status, 303, 'remembered: no page');
  t.same((await grantOf(second.page.headers.location as string, second.pushed))?.accountIds, ['acc-1002'], 'the accounts chosen then');
  t.ok(g.logs.some((l) => l.includes('"audit":"consent_approved"') && l.includes('"accounts":1')), 'the approval is audited');
});
