import { hashPasswordSync } from '../../src/users/password.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { startGateway, testPki, type ClientName, type Harness, type Response } from './harness.js';
import { browserRequest, CookieJar, formOf, pkce, type PushedAuthorization } from './flow.js';

export const ALICE_CPF = '76109277673';
export const BOB_CPF = '11122233344';
export const ALICE_CNPJ = '12ABC34501DE35';
export const URN_PREFIX = 'bancoexemplo';
export const ALICE_ACCOUNTS = [
  { id: 'acc-0001', label: 'Conta corrente 0001' },
  { id: 'acc-0002', label: 'Poupança 0002' },
];
export const PERSONAL_PERMISSIONS = ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ', 'CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ'];

let keysReplaced: Promise<string> | undefined;

/** The test PKI's client signing keys as PS256 (the only algorithm of the profile), and a PS256 server key file. */
export function ps256Keys(): Promise<string> {
  keysReplaced ??= (async () => {
    const { pki } = await testPki();
    const serverKeys = path.join(pki.dir, 'brazil-signing-keys.jwks.json');
    const { privateKey: serverKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
    await writeFile(serverKeys, JSON.stringify({ keys: [{ ...(await exportJWK(serverKey)), kid: 'bank-ps256-1', alg: 'PS256', use: 'sig' }] }), { mode: 0o600 });
    for (const name of ['client-one', 'client-two'] as const) {
      const { privateKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
      await writeFile(pki.clients[name].jwk, JSON.stringify({ ...(await exportJWK(privateKey)), kid: `${name}-ps256`, alg: 'PS256', use: 'sig' }), { mode: 0o600 });
    }
    return serverKeys;
  })();
  return keysReplaced;
}

/** Turns an embedded test config into `profile: brazil`: two private_key_jwt TPPs (PS256), Alice (with a CPF and a CNPJ) and Bob. */
export function brazilConfig(config: Record<string, any>, serverKeys: string): void {
  config.profile = 'brazil';
  config.keys = { signing: serverKeys };
  config.ecosystem = { bankUrnPrefix: URN_PREFIX, consents: { accounts: { 'alice-7f3c': ALICE_ACCOUNTS } } };
  config.users[0].claims = { ...config.users[0].claims, cpf: ALICE_CPF, cnpj: [ALICE_CNPJ] };
  config.users.push({ username: 'bob', passwordHash: hashPasswordSync('builder-pw'), sub: 'bob-1', claims: { name: 'Bob', cpf: BOB_CPF } });
  for (const client of config.clients) {
    client.token_endpoint_auth_method = 'private_key_jwt';
    delete client.tls_client_auth_subject_dn;
    client.scope = 'openid accounts consents resources';
    client.grant_types = ['authorization_code', 'refresh_token', 'client_credentials'];
  }
}

/** A gateway on `profile: brazil` in this process (see brazilConfig). */
export async function startBrazil(options: { configure?: (config: Record<string, any>) => void | Promise<void> } = {}): Promise<Harness> {
  const serverKeys = await ps256Keys();
  return startGateway({
    configure: async (config) => {
      brazilConfig(config, serverKeys);
      await options.configure?.(config);
    },
  });
}

/** Client authentication of a TPP: a fresh PS256 assertion. */
export async function auth(h: Harness, client: ClientName = 'client-one'): Promise<Record<string, string>> {
  return {
    client_id: client,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await h.assertion({ iss: client, sub: client }, { clientId: client }),
  };
}

/** A client_credentials token (scope `consents` unless told), bound to the client's certificate. */
export async function clientToken(h: Harness, client: ClientName = 'client-one', scope = 'consents'): Promise<string> {
  const res = await h.post('/token', { grant_type: 'client_credentials', scope, ...(await auth(h, client)) }, { client });
  if (res.status !== 200) throw new Error(`client_credentials failed: ${res.status} ${res.text}`);
  return res.json.access_token;
}

/** A call to the Consents API on the mTLS listener. */
export async function consentsCall(
  h: Harness,
  method: 'GET' | 'POST' | 'DELETE' | 'PUT',
  path: string,
  options: { token?: string; body?: unknown; client?: ClientName | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const { request } = await import('undici');
  const { readResponse } = await import('./harness.js');
  const client = options.client === undefined ? 'client-one' : options.client;
  const res = await request(`${h.mtlsBase}/open-banking/consents/v3/consents${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      'x-fapi-interaction-id': randomUUID(),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    dispatcher: h.agent(client ?? undefined),
  });
  return readResponse(res);
}

export function consentBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { data: { loggedUser: { document: { identification: ALICE_CPF, rel: 'CPF' } }, permissions: PERSONAL_PERMISSIONS, ...overrides } };
}

/** Creates a consent; returns its id. */
export async function createConsent(h: Harness, client: ClientName = 'client-one', overrides: Record<string, unknown> = {}): Promise<string> {
  const res = await consentsCall(h, 'POST', '', { token: await clientToken(h, client), body: consentBody(overrides), client });
  if (res.status !== 201) throw new Error(`consent creation failed: ${res.status} ${res.text}`);
  return res.json.data.consentId;
}

/** PAR with `consent:<id>` for a TPP. */
export async function pushConsent(h: Harness, consentId: string, client: ClientName = 'client-one', overrides: Record<string, string | undefined> = {}): Promise<Response & { pushed?: PushedAuthorization }> {
  const { verifier, challenge } = pkce();
  const form: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client,
    redirect_uri: 'https://client.localhost/callback',
    scope: `openid accounts consent:${consentId}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'state-' + randomUUID(),
    nonce: 'nonce-' + randomUUID(),
    ...overrides,
  };
  for (const k of Object.keys(form)) if (form[k] === undefined) delete form[k];
  const res = await h.post('/par', { ...(form as Record<string, string>), ...(await auth(h, client)) }, { client });
  if (res.status !== 201) return res;
  return { ...res, pushed: { requestUri: res.json.request_uri, verifier, state: form.state, nonce: form.nonce, form: form as Record<string, string> } };
}

/** Login and consent pages: signs in, ticks the offered accounts (or `accounts`), approves or denies. */
export async function authorizeConsent(
  h: Harness,
  pushed: PushedAuthorization,
  options: { client?: ClientName; username?: string; password?: string; decision?: 'approve' | 'deny'; accounts?: string[]; headers?: Record<string, string> } = {},
): Promise<{ redirect?: URL; page?: Response }> {
  const jar = new CookieJar();
  const url = `/authorize?${new URLSearchParams({ client_id: options.client ?? 'client-one', request_uri: pushed.requestUri })}`;
  let page = await browserRequest(h, jar, url, undefined, options.headers);
  const { action, csrf } = formOf(page.text);
  const login = await browserRequest(h, jar, action, { csrf, username: options.username ?? 'alice', password: options.password ?? 'wonderland', action: 'login' });
  if (login.status !== 303) return { page: login };
  page = await browserRequest(h, jar, login.headers.location as string, undefined, options.headers);
  if (page.status === 303) return { redirect: new URL(page.headers.location as string) };
  const consentForm = formOf(page.text);
  const boxes = [...page.text.matchAll(/name="(account-\d+)" value="([^"]+)"/g)];
  const chosen = Object.fromEntries(boxes.filter(([, , id]) => !options.accounts || options.accounts.includes(id)).map(([, name, id]) => [name, id]));
  const done = await browserRequest(h, jar, consentForm.action, { csrf: consentForm.csrf, decision: options.decision ?? 'approve', ...chosen }, options.headers);
  if (done.status !== 303) return { page: done };
  return { redirect: new URL(done.headers.location as string) };
}

/** Redeems a code for a TPP. */
export async function redeemCode(h: Harness, code: string, pushed: PushedAuthorization, client: ClientName = 'client-one'): Promise<Response> {
  return h.post('/token', { grant_type: 'authorization_code', code, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier, ...(await auth(h, client)) }, { client });
}

/** Consent → PAR → login → approval → tokens. */
export async function consentFlow(h: Harness, client: ClientName = 'client-one'): Promise<{ consentId: string; tokens: Record<string, any> }> {
  const consentId = await createConsent(h, client);
  const pushed = await pushConsent(h, consentId, client);
  if (!pushed.pushed) throw new Error(`PAR failed: ${pushed.status} ${pushed.text}`);
  const { redirect } = await authorizeConsent(h, pushed.pushed, { client });
  const code = redirect?.searchParams.get('code');
  if (!code) throw new Error(`no code: ${redirect}`);
  const tokens = await redeemCode(h, code, pushed.pushed, client);
  if (tokens.status !== 200) throw new Error(`token failed: ${tokens.status} ${tokens.text}`);
  return { consentId, tokens: tokens.json };
}
