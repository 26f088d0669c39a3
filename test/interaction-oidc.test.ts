// interaction.mode oidc: the customer signs in at the bank's OpenID provider (node-oidc-provider on
// loopback https, the gateway its private_key_jwt client with PKCE), the provider's acr/amr/claims
// are mapped by the config's table, then the gateway's own consent page. An essential acr the
// provider's login did not reach ends the authorization: no ID token claims it. prompt=login and
// max_age go to the provider, and its answer is checked.
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { freePort, startGateway, testPki, type Harness } from './helpers/harness.js';
import { authorizationUrl, push, redeem, userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { callbackUrl, launchChromium, newContext, newPage } from './helpers/chromium.js';
import { startUpstreamIdp, type UpstreamIdp } from './helpers/upstream-idp.js';

const LOA2 = 'urn:example:loa2';
const LOA3 = 'urn:example:loa3';
const IDP_PWD = 'urn:bank-idp:password';
const IDP_MFA = 'urn:bank-idp:mfa';

if (requireProgram(t, 'chromium', 'apt-get install -y chromium')) {
  let h: Harness;
  let idp: UpstreamIdp;
  let browser: Browser;

  t.before(async () => {
    const { dir, pki } = await testPki();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const keyFile = path.join(dir, 'gateway-at-idp.jwk.json');
    await writeFile(keyFile, JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256', kid: 'gateway-1' }), { mode: 0o600 });
    const idpPort = await freePort();
    h = await startGateway({
      configure(config) {
        config.interaction = {
          mode: 'oidc',
          issuer: `https://localhost:${idpPort}`,
          client_id: 'fapi-gateway',
          clientAuth: 'private_key_jwt',
          clientKey: keyFile,
          ca: pki.ca,
          allowPrivateAddresses: true,
          scope: 'openid email profile',
          acrValues: [LOA2, LOA3],
          amrValues: ['pwd', 'otp', 'mfa'],
          mapping: { acr: { [IDP_PWD]: LOA2, [IDP_MFA]: LOA3 }, amr: { sms: 'otp' }, claims: { name: 'name', email: 'email' } },
        };
      },
    });
    idp = await startUpstreamIdp({
      port: idpPort,
      tls: { cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) },
      gatewayJwk: { ...(await exportJWK(publicKey)), alg: 'ES256', kid: 'gateway-1', use: 'sig' },
      redirectUri: `${h.issuer}/authorize/callback`,
      methods: [
        { label: 'Password', acr: IDP_PWD, amr: ['pwd'] },
        { label: 'Password and SMS', acr: IDP_MFA, amr: ['pwd', 'sms', 'mfa'] },
        { label: 'Unmapped', acr: 'urn:bank-idp:other', amr: ['kba'] },
      ],
    });
    browser = await launchChromium();
  });
  t.teardown(async () => {
    await browser?.close();
    await idp?.close();
    await h?.close();
  });

  async function open(page: Page, overrides: Record<string, string | undefined> = {}) {
    const pushed = await push(h, 'client-one', { scope: 'openid profile email accounts', ...overrides });
    await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    return pushed;
  }

  async function idpSignIn(page: Page, method: string, username = 'alice') {
    await page.getByRole('heading', { name: 'IdP sign in' }).waitFor();
    await page.getByLabel('IdP username').fill(username);
    await page.getByLabel('IdP method').selectOption({ label: method });
    await page.getByRole('button', { name: 'IdP continue' }).click();
  }

  t.test('sign in at the provider, consent at the gateway: sub, acr, amr and claims mapped', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { acr_values: `${LOA3} ${LOA2}`, claims: JSON.stringify({ id_token: { email: null } }) });
    t.match(page.url(), `https://localhost:`, 'at the provider');
    const asked = idp.logins.at(-1)!.params;
    t.equal(asked.acr_values, `${IDP_MFA} ${IDP_PWD}`, "the client's acr_values, in the provider's terms");
    t.equal(asked.code_challenge_method, 'S256', 'PKCE');
    await idpSignIn(page, 'Password and SMS');
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    t.match(await page.locator('main').innerText(), 'Alice Upstream', "the consent page names the customer with the provider's claim");
    await page.getByRole('button', { name: 'Approve' }).click();
    const url = await callbackUrl(page);
    const tokens = await redeem(h, url.searchParams.get('code')!, pushed);
    t.equal(tokens.status, 200);
    const idToken = decodeJwt(tokens.json.id_token);
    t.equal(idToken.sub, 'alice');
    t.equal(idToken.acr, LOA3, "the provider's acr, mapped");
    t.same(idToken.amr, ['pwd', 'otp', 'mfa'], `amr mapped and limited to amrValues (${JSON.stringify(idToken.amr)})`);
    t.equal(idToken.email, 'alice@bank.example', 'a mapped claim where it was asked for');
    t.type(idToken.auth_time, 'number');
    t.match((await userinfo(h, tokens.json.access_token)).json, { sub: 'alice', name: 'Alice Upstream' });

    t.test('the gateway session: the next authorization goes to consent; prompt=login goes back to the provider', async (t) => {
      const next = await newPage(page.context());
      await open(next);
      await next.getByRole('heading', { name: 'Allow access?' }).waitFor();
      const again = await newPage(page.context());
      const before = idp.logins.length;
      const pushedAgain = await open(again, { prompt: 'login' });
      await again.getByRole('heading', { name: 'IdP sign in' }).waitFor();
      t.equal(idp.logins.length, before + 1, 'the provider shows its login again');
      t.equal(idp.logins.at(-1)!.params.prompt, 'login', 'asked with prompt=login');
      await idpSignIn(again, 'Password');
      await again.getByRole('button', { name: 'Approve' }).click();
      const tokens = await redeem(h, (await callbackUrl(again)).searchParams.get('code')!, pushedAgain);
      t.equal(decodeJwt(tokens.json.id_token).acr, undefined, 'nothing asked, nothing claimed');
    });
  });

  t.test('an essential acr the provider login did not reach: access_denied, no code, no ID token', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } }) });
    await idpSignIn(page, 'Password');
    const url = await callbackUrl(page);
    t.equal(url.searchParams.get('error'), 'access_denied');
    t.equal(url.searchParams.get('state'), pushed.state);
    t.notOk(url.searchParams.has('code'));
    t.ok(h.logs.some((l) => l.includes('"audit":"acr_unmet"')), 'audited');
  });

  t.test('an acr outside the mapping or acrValues is never claimed', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page, { acr_values: LOA2 });
    await idpSignIn(page, 'Unmapped', 'bob');
    await page.getByRole('button', { name: 'Approve' }).click();
    const tokens = await redeem(h, (await callbackUrl(page)).searchParams.get('code')!, pushed);
    const idToken = decodeJwt(tokens.json.id_token);
    t.equal(idToken.acr, undefined, 'no acr: the login reached none the gateway knows');
    t.equal(idToken.amr, undefined, 'kba is not in amrValues');
  });

  t.test('a reload during the provider login continues the same upstream request', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const pushed = await open(page);
    await page.getByRole('heading', { name: 'IdP sign in' }).waitFor();
    const first = idp.logins.at(-1)!.params;
    await page.goto(h.issuer + authorizationUrl('client-one', pushed.requestUri));
    await page.getByRole('heading', { name: 'IdP sign in' }).waitFor();
    const second = idp.logins.at(-1)!.params;
    t.equal(second.code_challenge, first.code_challenge, 'the same PKCE challenge');
    t.equal(second.state, first.state, 'the same state');
    await idpSignIn(page, 'Password');
    await page.getByRole('button', { name: 'Approve' }).click();
    t.ok((await callbackUrl(page)).searchParams.get('code'));
  });

  t.test('the callback refuses what it must: an unknown state, another browser, a provider error', async (t) => {
    const page = await newPage(await newContext(browser, t));
    const unknown = await page.goto(`${h.issuer}/authorize/callback?code=x&state=${'a'.repeat(43)}`);
    t.equal(unknown?.status(), 400, 'an unknown state');
    await open(page);
    await page.getByRole('heading', { name: 'IdP sign in' }).waitFor();
    const state = String(idp.logins.at(-1)!.params.state);
    const thief = await newPage(await newContext(browser, t));
    const stolen = await thief.goto(`${h.issuer}/authorize/callback?code=x&state=${state}`);
    t.equal(stolen?.status(), 400, 'the callback in another browser');
    await page.goto(`${h.issuer}/authorize/callback?error=access_denied&state=${state}`).catch(() => undefined);
    t.equal((await callbackUrl(page)).searchParams.get('error'), 'access_denied', "the provider's refusal reaches the client");
  });

  t.test('the built-in login forms are not served in this mode', async (t) => {
    const res = await h.post(`${h.issuer}/interaction/${'a'.repeat(43)}/login`, { username: 'alice', password: 'wonderland' }, { client: null });
    t.not(res.status, 303);
  });
}
