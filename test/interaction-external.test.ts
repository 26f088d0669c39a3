// interaction.mode external: the bank's own login app (examples/bank-login-app.ts) signs the customer
// in and answers the interaction over the interaction API, on its own listener that only the bank's
// CA gets into; the browser comes back to /authorize/resume/{id} and the authorization completes as
// with the built-in pages. In Chromium: login, consent, abort, reload, a second tab, an expired
// interaction, another browser; over the API: what is refused, and the certificate rule.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { Agent, request } from 'undici';
import type { Browser, Page } from 'playwright-core';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import { freePort, startGateway, testPki, type Harness } from './helpers/harness.js';
import { authorizationUrl, push, redeem, userinfo, type PushedAuthorization } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { callbackUrl, launchChromium, newContext, newPage } from './helpers/chromium.js';
import { startBankLoginApp } from '../examples/bank-login-app.js';

const LOA2 = 'urn:example:loa2';
const LOA3 = 'urn:example:loa3';

let h: Harness;
let app: Awaited<ReturnType<typeof startBankLoginApp>>;
let apiBase: string;
let bankAgent: Agent;
let clientAgent: Agent;
let otherCaAgent: Agent;

t.before(async () => {
  const { dir, pki } = await testPki();
  const bankCa = await createCa('O=Example Bank, CN=Example Bank login apps CA');
  const bankApp = await issueCertificate({ subject: 'O=Example Bank, CN=login-app', usage: 'client' }, bankCa);
  const otherCa = await createCa('O=Elsewhere, CN=Another CA');
  const stranger = await issueCertificate({ subject: 'O=Elsewhere, CN=login-app', usage: 'client' }, otherCa);
  const bankCaFile = path.join(dir, 'bank-apps-ca.pem');
  await writeFile(bankCaFile, bankCa.certPem);
  const apiPort = await freePort();
  const appPort = await freePort();
  h = await startGateway({
    configure(config) {
      config.listeners.interaction = { host: '127.0.0.1', port: apiPort };
      config.interaction = { mode: 'external', loginUrl: `https://localhost:${appPort}/login`, clientCAs: [bankCaFile], acrValues: [LOA2, LOA3], amrValues: ['pwd', 'otp', 'mfa'], claims: ['name', 'email'] };
    },
  });
  apiBase = `https://localhost:${apiPort}`;
  const ca = await readFile(pki.ca);
  app = await startBankLoginApp({
    gateway: apiBase,
    port: appPort,
    tls: { cert: bankApp.certPem, key: bankApp.keyPem, ca },
    server: { cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) },
    strengths: [
      { label: 'Password', acr: LOA2, amr: ['pwd'] },
      { label: 'Password and app', acr: LOA3, amr: ['pwd', 'otp', 'mfa', 'face'] },
    ],
  });
  bankAgent = new Agent({ connect: { ca, cert: bankApp.certPem, key: bankApp.keyPem } });
  clientAgent = new Agent({ connect: { ca, cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) } });
  otherCaAgent = new Agent({ connect: { ca, cert: stranger.certPem, key: stranger.keyPem } });
});
t.teardown(async () => {
  await Promise.all([bankAgent?.close(), clientAgent?.close(), otherCaAgent?.close()]);
  await app?.close();
  await h?.close();
});

async function api(method: 'GET' | 'POST', pathname: string, body?: unknown, agent = bankAgent) {
  const res = await request(apiBase + pathname, { method, dispatcher: agent, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** The interaction id the gateway sends the browser to the bank with, for a pushed request opened with `cookie`. */
async function openWithoutBrowser(pushed: PushedAuthorization): Promise<{ id: string; cookie: string }> {
  const res = await request(h.issuer + authorizationUrl('client-one', pushed.requestUri), { dispatcher: h.agent() });
  await res.body.dump();
  t.equal(res.statusCode, 303);
  const location = new URL(String(res.headers.location));
  const cookie = String(res.headers['set-cookie']).split(';')[0];
  return { id: location.searchParams.get('interaction_id')!, cookie };
}

t.test('the interaction API refuses certificates not issued by the bank apps CA, and callers without one', async (t) => {
  const { id } = await openWithoutBrowser(await push(h));
  t.equal((await api('GET', `/interactions/${id}`)).status, 200, "the bank app's certificate is let in");
  for (const [name, agent] of [
    ['a client certificate of the gateway (another CA)', clientAgent],
    ['a certificate from an unknown CA', otherCaAgent],
    ['no certificate', new Agent({ connect: { ca: h.ca } })],
  ] as const) {
    const refused = await api('GET', `/interactions/${id}`, undefined, agent).then(
      (r) => `answered ${r.status}`,
      (err: Error & { code?: string }) => err.code ?? err.message,
    );
    t.notMatch(refused, /^answered/, `${name}: refused at the handshake (${refused})`);
  }
  const publicListener = await request(`${h.issuer}/interactions/${id}`, { dispatcher: h.agent() });
  await publicListener.body.dump();
  t.equal(publicListener.statusCode, 404, 'the API is not on the public listener');
});

t.test('GET /interactions/{id}: what the bank app needs to know', async (t) => {
  const pushed = await push(h, 'client-one', { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } }), max_age: '300' });
  const { id } = await openWithoutBrowser(pushed);
  const res = await api('GET', `/interactions/${id}`);
  t.equal(res.status, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.json, {
    interaction_id: id,
    prompt: 'login',
    client: { client_id: 'client-one', client_name: 'Demo client one (private_key_jwt)' },
    scopes: ['openid', 'accounts'],
    acr: { values: [LOA3], essential: true },
    max_age: 300,
    acr_values_supported: [LOA2, LOA3],
  });
  t.notOk('login' in res.json, 'nobody signed in yet');
  t.equal((await api('GET', '/interactions/not-an-interaction')).status, 404);
  t.match((await api('GET', `/interactions/${'x'.repeat(43)}`)).json, { error: 'invalid_interaction' });
});

t.test('the API refuses what it must', async (t) => {
  const pushed = await push(h, 'client-one', { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } }) });
  const { id } = await openWithoutBrowser(pushed);
  const at = (step: string) => `/interactions/${id}/${step}`;
  t.match(await api('POST', at('consent'), {}), { status: 409, json: { error: 'login_required' } }, 'consent before login');
  t.match(await api('POST', at('login'), {}), { status: 400, json: { error: 'invalid_request' } }, 'no sub');
  t.match(await api('POST', at('login'), { sub: 'x', acr: 'urn:other' }), { status: 400, json: { error: 'invalid_request' } }, 'an acr outside interaction.acrValues');
  t.match(await api('POST', at('login'), { sub: 'x', acr: LOA3, claims: { ssn: '1' } }), { status: 400, json: { error: 'invalid_request' } }, 'a claim outside interaction.claims');
  t.match(await api('POST', at('login'), { sub: 'x', acr: LOA3, auth_time: Math.floor(Date.now() / 1000) + 3600 }), { status: 400 }, 'auth_time in the future');
  const unmet = await api('POST', at('login'), { sub: 'x', acr: LOA2 });
  t.match(unmet, { status: 400, json: { error: 'unmet_authentication_requirements', required_acr: [LOA3] } }, 'an essential acr not reached: step up');
  t.match((await api('GET', `/interactions/${id}`)).json, { prompt: 'login' }, 'the interaction stays open for the step-up');
  t.match(await api('POST', at('abort'), { error: 'made_up' }), { status: 400 }, 'an abort error outside the list');
  t.match(await api('POST', at('login'), 'not an object'), { status: 400 }, 'a body that is not an object');
  const raw = await request(apiBase + at('login'), { method: 'POST', dispatcher: bankAgent, headers: { 'content-type': 'application/json' }, body: '{"sub": ' });
  t.equal(raw.statusCode, 400, 'malformed JSON');
  await raw.body.dump();
  t.equal((await api('POST', at('login'), { sub: 'x', acr: LOA3 })).status, 200, 'the stronger login');
  t.match(await api('POST', at('consent'), { scopes: ['openid', 'payments'] }), { status: 400, json: { error: 'invalid_request' } }, 'a scope not requested');
  t.match(await api('POST', at('consent'), { scopes: [] }), { status: 400 }, 'no scope at all');
  const done = await api('POST', at('consent'), { scopes: ['openid'] });
  t.equal(done.json.redirect_to, `${h.issuer}/authorize/resume/${id}`);
  t.match(await api('POST', at('abort'), {}), { status: 409 }, 'answered once');
});

t.test('prompt=login and max_age: the bank must sign the customer in now', async (t) => {
  const fresh = await openWithoutBrowser(await push(h, 'client-one', { prompt: 'login' }));
  const earlier = Math.floor(Date.now() / 1000) - 600;
  t.match(await api('POST', `/interactions/${fresh.id}/login`, { sub: 'x', acr: LOA2, auth_time: earlier }), { status: 400, json: { error: 'login_required' } });
  t.match((await api('GET', `/interactions/${fresh.id}`)).json, { prompt_values: ['login'] });
  const aged = await openWithoutBrowser(await push(h, 'client-one', { max_age: '60' }));
  t.match(await api('POST', `/interactions/${aged.id}/login`, { sub: 'x', acr: LOA2, auth_time: earlier }), { status: 400, json: { error: 'login_required' } });
  t.equal((await api('POST', `/interactions/${aged.id}/login`, { sub: 'x', acr: LOA2 })).status, 200, 'a login now');
});

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let browser: Browser;
  t.before(async () => {
    browser = await launchChromium();
  });
  t.teardown(() => browser?.close());

  async function open(page: Page, overrides: Record<string, string | undefined> = {}) {
    const pushed = await push(h, 'client-one', { scope: 'openid profile email accounts', ...overrides });
    await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    return pushed;
  }

  async function signIn(page: Page, strength = 'Password') {
    await page.getByRole('heading', { name: 'Bank sign in' }).waitFor();
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wonderland');
    await page.getByLabel('Sign-in method').selectOption({ label: strength });
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  t.test('login and consent at the bank app: a code whose ID token states what the bank asserted', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { acr_values: `${LOA3} ${LOA2}`, claims: JSON.stringify({ id_token: { name: null } }) });
    t.match(page.url(), new RegExp(`^${app.url}/login\\?interaction_id=`), 'the browser is at the bank app');
    await signIn(page, 'Password and app');
    await page.getByRole('heading', { name: 'Share your data?' }).waitFor();
    await page.getByLabel('transactions').count();
    await page.getByRole('checkbox', { name: 'accounts' }).uncheck();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('state'), pushed.state);
    t.equal(url.searchParams.get('iss'), h.issuer);
    const tokens = await redeem(h, url.searchParams.get('code')!, pushed);
    t.equal(tokens.status, 200);
    t.equal(tokens.json.scope, 'openid profile email', 'the scopes the customer granted, not those asked');
    const idToken = decodeJwt(tokens.json.id_token);
    t.equal(idToken.sub, 'bank-alice-001');
    t.equal(idToken.acr, LOA3, 'the acr the bank asserted');
    t.same(idToken.amr, ['pwd', 'otp', 'mfa'], 'amr, limited to interaction.amrValues');
    t.equal(idToken.name, 'Alice Example', 'a claim the bank asserted, where it was asked for');
    t.ok(Math.abs(Number(idToken.auth_time) - Date.now() / 1000) < 120, 'auth_time of the login');
    const info = await userinfo(h, tokens.json.access_token);
    t.match(info.json, { sub: 'bank-alice-001', name: 'Alice Example', email: 'alice@example.com' }, 'userinfo releases them per scope');
    t.ok(h.logs.some((l) => l.includes('"audit":"interaction_login"')) && h.logs.some((l) => l.includes('"audit":"interaction_consent"')), 'audit events');
  });

  t.test('an essential acr the bank login did not reach: the app is told to step up; no ID token claims it', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } }) });
    await signIn(page, 'Password');
    t.match(await page.getByRole('alert').innerText(), `A stronger sign-in is required (${LOA3})`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wonderland');
    await page.getByLabel('Sign-in method').selectOption({ label: 'Password and app' });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const tokens = await redeem(h, (await callbackUrl(page)).searchParams.get('code')!, pushed);
    t.equal(decodeJwt(tokens.json.id_token).acr, LOA3, 'only after the step-up');
  });

  t.test('cancel at the bank login: access_denied at the callback', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page);
    await page.getByRole('button', { name: 'Cancel' }).click();
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('error'), 'access_denied');
    t.equal(url.searchParams.get('state'), pushed.state);
    t.notOk(url.searchParams.has('code'));
  });

  t.test('consent refused at the bank: access_denied', async (t) => {
    const page = await newPage(await newContext(browser, t));
    await open(page);
    await signIn(page);
    await page.getByRole('button', { name: 'Do not share' }).click();
    t.equal((await callbackUrl(page)).searchParams.get('error'), 'access_denied');
  });

  t.test('a reload of the authorization URL, and a second tab: the same interaction; done once', async (t) => {
    const context = await newContext(browser, t);
    const page = await newPage(context);
    const pushed = await open(page);
    const first = new URL(page.url()).searchParams.get('interaction_id');
    await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    t.equal(new URL(page.url()).searchParams.get('interaction_id'), first, 'the reload continues the same interaction');
    const second = await newPage(context);
    await second.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    t.equal(new URL(second.url()).searchParams.get('interaction_id'), first, 'so does a second tab of the same browser');
    await signIn(page);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    t.ok((await callbackUrl(page)).searchParams.get('code'));
    // The second tab still shows the login form of a completed interaction.
    await signIn(second);
    t.match(await second.getByRole('alert').innerText(), /expired or was completed/, 'the bank app learns it is over');
    const resume = await second.goto(`${h.issuer}/authorize/resume/${first}`);
    t.equal(resume?.status(), 400, 'the resume URL is spent');
    t.match(await second.getByRole('alert').innerText(), /already been completed/);
  });

  t.test('another browser (no cookie) cannot open or resume the interaction', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page);
    const id = new URL(page.url()).searchParams.get('interaction_id')!;
    await signIn(page);
    await page.getByRole('heading', { name: 'Share your data?' }).waitFor();
    const consent = await api('POST', `/interactions/${id}/consent`, {});
    t.equal(consent.status, 200);
    const thief = await newPage(await newContext(browser, t));
    const stolen = await thief.goto(consent.json.redirect_to);
    t.equal(stolen?.status(), 400, 'the resume URL in another browser');
    t.match(await thief.getByRole('alert').innerText(), /another browser/);
    const reopened = await thief.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    t.equal(reopened?.status(), 400, 'the authorization URL in another browser');
    // The navigation ends at the stubbed callback (the request is what counts).
    await page.goto(consent.json.redirect_to).catch(() => undefined);
    t.ok((await callbackUrl(page)).searchParams.get('code'), 'the browser that started it completes it');
  });

  t.test('an expired interaction: the bank app and the resume URL say so', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page);
    const id = new URL(page.url()).searchParams.get('interaction_id')!;
    // As the store's expiry would: the interaction and its id are gone.
    const parId = pushed.requestUri.split(':').pop()!;
    await Promise.all([h.gateway.context.store.delete('interaction', parId), h.gateway.context.store.delete('interaction-ref', id)]);
    t.match(await api('GET', `/interactions/${id}`), { status: 404, json: { error: 'invalid_interaction' } });
    await signIn(page);
    t.match(await page.getByRole('alert').innerText(), /expired or was completed/);
    const resume = await page.goto(`${h.issuer}/authorize/resume/${id}`);
    t.equal(resume?.status(), 400);
  });
}
