import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { parForm, type ClientName, type Harness, type Response } from './harness.js';

/** A browser's cookies for the gateway's public listener. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  take(setCookie: string | string[] | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A request to the public listener as a browser makes it (no client certificate, cookies kept). */
export async function browserRequest(h: Harness, jar: CookieJar, url: string, form?: Record<string, string>): Promise<Response> {
  const res = await request(new URL(url, h.issuer + '/').toString(), {
    method: form ? 'POST' : 'GET',
    headers: { cookie: jar.header(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: form ? new URLSearchParams(form).toString() : undefined,
    dispatcher: h.agent(),
  });
  jar.take(res.headers['set-cookie']);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: undefined };
}

export function formOf(page: string): { action: string; csrf: string } {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!action || !csrf) throw new Error(`no form on the page:\n${page.slice(0, 500)}`);
  return { action: action.replace(/&amp;/g, '&'), csrf };
}

export interface PushedAuthorization {
  requestUri: string;
  verifier: string;
  state?: string;
  nonce?: string;
  form: Record<string, string>;
}

/** Pushes an authorization request for `client` (client-one authenticates by assertion, client-two by its certificate). */
export async function push(h: Harness, client: ClientName = 'client-one', overrides: Record<string, string | undefined> = {}): Promise<PushedAuthorization> {
  const { verifier, challenge } = pkce();
  const form = parForm({ client_id: client, code_challenge: challenge, ...overrides });
  const auth = client === 'client-one' ? await h.assertionForm() : {};
  const res = await h.post('/par', { ...form, ...auth }, { client });
  if (res.status !== 201) throw new Error(`PAR failed: ${res.status} ${res.text}`);
  return { requestUri: res.json.request_uri, verifier, state: form.state, nonce: form.nonce, form };
}

/** Walks the login and consent pages; returns the redirect URL the browser is sent to. */
export async function authorize(
  h: Harness,
  pushed: PushedAuthorization,
  options: { client?: ClientName; jar?: CookieJar; decision?: 'approve' | 'deny'; username?: string; password?: string } = {},
): Promise<URL> {
  const jar = options.jar ?? new CookieJar();
  const client = options.client ?? 'client-one';
  let page = await browserRequest(h, jar, `/authorize?client_id=${client}&request_uri=${encodeURIComponent(pushed.requestUri)}`);
  if (page.status !== 200) throw new Error(`authorize failed: ${page.status} ${page.text.slice(0, 300)}`);
  if (page.text.includes('name="password"')) {
    const { action, csrf } = formOf(page.text);
    const login = await browserRequest(h, jar, action, { csrf, username: options.username ?? 'alice', password: options.password ?? 'wonderland', action: 'login' });
    if (login.status !== 303) throw new Error(`login failed: ${login.status} ${login.text.slice(0, 300)}`);
    page = await browserRequest(h, jar, login.headers.location as string);
  }
  const { action, csrf } = formOf(page.text);
  const done = await browserRequest(h, jar, action, { csrf, decision: options.decision ?? 'approve' });
  if (done.status !== 303) throw new Error(`consent failed: ${done.status} ${done.text.slice(0, 300)}`);
  return new URL(done.headers.location as string);
}

/** Redeems a code at the token endpoint. */
export async function redeem(h: Harness, code: string, pushed: PushedAuthorization, client: ClientName = 'client-one', overrides: Record<string, string | undefined> = {}): Promise<Response> {
  const form: Record<string, string | undefined> = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: pushed.form.redirect_uri,
    code_verifier: pushed.verifier,
    client_id: client,
    ...overrides,
  };
  for (const k of Object.keys(form)) if (form[k] === undefined) delete form[k];
  const auth = client === 'client-one' ? await h.assertionForm() : {};
  return h.post('/token', { ...(form as Record<string, string>), ...auth }, { client });
}

/** PAR → login → consent → token, for `client`. */
export async function fullFlow(h: Harness, client: ClientName = 'client-one', overrides: Record<string, string | undefined> = {}) {
  const pushed = await push(h, client, overrides);
  const redirect = await authorize(h, pushed, { client });
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirect}`);
  const tokens = await redeem(h, code, pushed, client);
  if (tokens.status !== 200) throw new Error(`token failed: ${tokens.status} ${tokens.text}`);
  return { pushed, redirect, code, tokens: tokens.json as Record<string, any> };
}
