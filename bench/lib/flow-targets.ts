import { randomUUID } from 'node:crypto';
import type { Pool } from 'undici';
import { DEMO_USER } from '../../src/config/embedded.js';
import { startGateway, type GatewayStartOptions } from './gateway.js';
import { CookieJar, expectStatus, header, httpsPool, send, type Reply } from './http.js';
import { checkTokenResponse, codeFrom, CLIENT_ID, describeAccessToken, flowMaterial, REDIRECT_URI, tokenBody, type FlowMaterial } from './oauth-client.js';
import { startOidcProvider } from './oidc-provider.js';
import type { BenchPki } from './pki.js';
import type { ServerProcess } from './server-process.js';

/** One authorization server, driven through PAR → authorization (reused login session) → token. */
export interface FlowTarget {
  name: string;
  server: ServerProcess;
  /** The `aud` of client assertions (the issuer). */
  audience: string;
  /** The mutual-TLS origin: PAR, token and, for the gateway, the proxied resources. */
  mtlsBase: string;
  /** fapi-gateway's ops listener (/metrics); other servers have none. */
  opsBase?: string;
  /**
   * Logs the demo user in, in a new browser, through one complete untimed flow; returns the
   * browser's cookies, a description of the access token (`accessToken`) and the token itself.
   */
  login(material: FlowMaterial): Promise<Login>;
  /**
   * One flow in a logged-in browser (its cookies are updated as a browser's are); returns its HTTP
   * round trips. `after`, when given, is awaited after each HTTP request with the step's name.
   */
  flow(material: FlowMaterial, browser: CookieJar, after?: (step: string) => Promise<void>): Promise<number>;
  close(): Promise<void>;
}

export interface Login {
  browser: CookieJar;
  /** The access token described (`describeAccessToken`): format, alg, aud, scope, binding. */
  accessToken: string;
  token: string;
}

/** `count` browsers logged in, one after the other, each through one untimed flow (a browser runs one flow at a time). */
export async function logInBrowsers(
  target: FlowTarget,
  pki: BenchPki,
  count: number,
  signed = false,
  material: (count: number) => Promise<FlowMaterial[]> = (n) => flowMaterial(pki.clientOne.jwk, target.audience, n, signed),
): Promise<Login[]> {
  const logins: Login[] = [];
  for (const one of await material(count)) logins.push(await target.login(one));
  return logins;
}

interface Connections {
  /** Client-one's back channel: mutual TLS with its certificate (PAR, token). */
  mtls: Pool;
  /** The browser: no client certificate (authorization endpoint, interaction pages). */
  browser: Pool;
}

async function pushed(pools: Connections, material: FlowMaterial, form = material.parBody): Promise<string> {
  const reply = expectStatus(await send(pools.mtls, { method: 'POST', path: '/par', form }), 201, 'PAR');
  return (JSON.parse(reply.text) as { request_uri: string }).request_uri;
}

async function redeemed(pools: Connections, material: FlowMaterial, code: string): Promise<string> {
  const reply = expectStatus(await send(pools.mtls, { method: 'POST', path: '/token', form: tokenBody(material.tokenAssertion, code, material.verifier) }), 200, 'token');
  return checkTokenResponse(reply.text).access_token;
}

const nothing = async () => {};

const authorizePath = (requestUri: string) => `/authorize?client_id=${CLIENT_ID}&request_uri=${encodeURIComponent(requestUri)}`;

async function browse(pool: Pool, jar: CookieJar, request: { method: 'GET' | 'POST'; path: string; form?: string }): Promise<Reply> {
  const reply = await send(pool, { ...request, cookie: jar.header(request.path) });
  jar.take(reply);
  return reply;
}

// ---- fapi-gateway: GET /authorize shows the consent page at once when the session cookie is there.

function pageForm(page: string): { action: string; csrf: string; login: boolean; account?: [string, string] } {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!action || !csrf) throw new Error(`authorize: no form on the page: ${page.slice(0, 160)}`);
  // The first account offered (a consent that shares account data asks which): the customer ticks it.
  const account = /name="(account-\d+)" value="([^"]+)"/.exec(page);
  return { action: action.replace(/&amp;/g, '&'), csrf, login: page.includes('name="password"'), ...(account ? { account: [account[1], account[2]] as [string, string] } : {}) };
}

/**
 * Open Finance Brasil: each flow first creates the consent it authorises (`POST` of `body` with a
 * client_credentials token of scope `consents`, got once with `assertion`); the pushed request's
 * scope names it through CONSENT_PLACEHOLDER.
 */
export interface ConsentCreation {
  path: string;
  body: string;
  /** A client assertion for the token endpoint, naming `audience` (the issuer). */
  assertion: (audience: string) => Promise<string>;
}
export const CONSENT_PLACEHOLDER = 'CONSENT_ID';

export async function gatewayTarget(pki: BenchPki, options: GatewayStartOptions & { concurrency: number; consents?: ConsentCreation }): Promise<FlowTarget> {
  const gateway = await startGateway(pki, options);
  const pools: Connections = {
    mtls: httpsPool(gateway.mtlsBase, { ca: pki.ca, client: pki.clientOne, connections: options.concurrency }),
    browser: httpsPool(gateway.issuer, { ca: pki.ca, connections: options.concurrency }),
  };
  /** GET /authorize, (login), POST the consent form; returns the code and the round trips. */
  const authorize = async (jar: CookieJar, requestUri: string, mayLogIn: boolean, after: (step: string) => Promise<void>): Promise<{ code: string; trips: number }> => {
    let trips = 1;
    let page = expectStatus(await browse(pools.browser, jar, { method: 'GET', path: authorizePath(requestUri) }), 200, 'authorize');
    await after('authorize');
    let form = pageForm(page.text);
    if (form.login) {
      if (!mayLogIn) throw new Error('authorize: the login page was shown although the session cookie was sent');
      const body = new URLSearchParams({ csrf: form.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }).toString();
      const login = expectStatus(await browse(pools.browser, jar, { method: 'POST', path: form.action, form: body }), 303, 'login');
      page = expectStatus(await browse(pools.browser, jar, { method: 'GET', path: header(login, 'location')! }), 200, 'consent page');
      form = pageForm(page.text);
      trips += 2;
    }
    const body = new URLSearchParams({ csrf: form.csrf, decision: 'approve', ...(form.account ? { [form.account[0]]: form.account[1] } : {}) }).toString();
    const done = expectStatus(await browse(pools.browser, jar, { method: 'POST', path: form.action, form: body }), 303, 'consent');
    await after('consent');
    return { code: codeFrom(header(done, 'location')), trips: trips + 1 };
  };
  const { consents } = options;
  let consentsToken: Promise<string> | undefined;
  /** The pushed request's body, and the round trips before PAR (the consent it names, when the flow creates one). */
  const requestFor = async (material: FlowMaterial, after: (step: string) => Promise<void>): Promise<{ form: string; trips: number }> => {
    if (!consents) return { form: material.parBody, trips: 0 };
    consentsToken ??= consents.assertion(gateway.issuer).then(async (assertion) => {
      const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'consents', client_id: CLIENT_ID, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString();
      return (JSON.parse(expectStatus(await send(pools.mtls, { method: 'POST', path: '/token', form }), 200, 'client_credentials').text) as { access_token: string }).access_token;
    });
    const headers = { authorization: `Bearer ${await consentsToken}`, 'x-fapi-interaction-id': randomUUID() };
    const created = expectStatus(await send(pools.mtls, { method: 'POST', path: consents.path, json: consents.body, headers }), 201, 'consent');
    const id = (JSON.parse(created.text) as { data: { consentId: string } }).data.consentId;
    await after('consent creation');
    return { form: material.parBody.replace(CONSENT_PLACEHOLDER, encodeURIComponent(id)), trips: 1 };
  };

  return {
    name: 'fapi-gateway',
    server: gateway.server,
    audience: gateway.issuer,
    mtlsBase: gateway.mtlsBase,
    opsBase: gateway.opsBase,
    async login(material) {
      const browser = new CookieJar();
      const { code } = await authorize(browser, await pushed(pools, material, (await requestFor(material, nothing)).form), true, nothing);
      const token = await redeemed(pools, material, code);
      return { browser, accessToken: describeAccessToken(token), token };
    },
    async flow(material, browser, after = nothing) {
      const request = await requestFor(material, after);
      const requestUri = await pushed(pools, material, request.form);
      await after('PAR');
      const { code, trips } = await authorize(browser, requestUri, false, after);
      await redeemed(pools, material, code);
      await after('token');
      return request.trips + trips + 2;
    },
    async close() {
      await Promise.all([pools.mtls.close(), pools.browser.close()]);
      await gateway.server.stop();
    },
  };
}

// ---- oidc-provider: GET /authorize → 303 interaction → (consent approved there) 303 → resume → 303 to the client.

export async function oidcProviderTarget(pki: BenchPki, options: GatewayStartOptions & { concurrency: number; oidcProviderNodeArgs?: string[] }): Promise<FlowTarget> {
  const op = await startOidcProvider(pki, { alg: options.alg, sub: 'alice-7f3c', cpuProfDir: options.cpuProfDir, nodeArgs: options.oidcProviderNodeArgs });
  const pools: Connections = {
    mtls: httpsPool(op.issuer, { ca: pki.ca, client: pki.clientOne, connections: options.concurrency }),
    browser: httpsPool(op.issuer, { ca: pki.ca, connections: options.concurrency }),
  };
  /** Follows the provider's redirects until the browser is sent to the client; returns the code and the round trips. */
  const authorize = async (jar: CookieJar, requestUri: string): Promise<{ code: string; trips: number }> => {
    let path = authorizePath(requestUri);
    for (let trips = 1; trips <= 8; trips++) {
      const reply = await browse(pools.browser, jar, { method: 'GET', path });
      if (reply.status !== 303 && reply.status !== 302) expectStatus(reply, 303, `authorize step ${trips} (${path.split('?')[0]})`);
      const location = header(reply, 'location') ?? '';
      if (location.startsWith(REDIRECT_URI)) return { code: codeFrom(location), trips };
      const next = new URL(location, op.issuer);
      if (next.origin !== op.issuer) throw new Error(`authorize: redirected away to ${location}`);
      path = next.pathname + next.search;
    }
    throw new Error('authorize: too many redirects');
  };

  return {
    name: 'oidc-provider',
    server: op.server,
    audience: op.issuer,
    mtlsBase: op.issuer,
    async login(material) {
      const browser = new CookieJar();
      const { code } = await authorize(browser, await pushed(pools, material));
      const token = await redeemed(pools, material, code);
      return { browser, accessToken: describeAccessToken(token), token };
    },
    async flow(material, browser) {
      const requestUri = await pushed(pools, material);
      const { code, trips } = await authorize(browser, requestUri);
      await redeemed(pools, material, code);
      return trips + 2;
    },
    async close() {
      await Promise.all([pools.mtls.close(), pools.browser.close()]);
      await op.server.stop();
    },
  };
}
