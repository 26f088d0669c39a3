import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request, type Agent } from 'undici';
import { issueCertificate, type CertificateRequest, type Issued } from '../../src/devpki/pki.js';
import { x509 } from '../../src/tls/x509.js';
import { parForm, readResponse, type ClientName, type Harness, type Response } from './harness.js';

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
export async function browserRequest(h: Harness, jar: CookieJar, url: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const res = await request(new URL(url, h.issuer + '/').toString(), {
    method: form ? 'POST' : 'GET',
    headers: { ...headers, cookie: jar.header(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
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
  options: AuthorizeOptions & { client?: ClientName } = {},
): Promise<URL> {
  return authorizeAt(h, authorizationUrl(options.client ?? 'client-one', pushed.requestUri), options);
}

export interface AuthorizeOptions {
  jar?: CookieJar;
  decision?: 'approve' | 'deny';
  username?: string;
  password?: string;
  /** Sees the consent page's HTML before the decision is posted. */
  onConsentPage?: (html: string) => void;
}

/** The authorization endpoint path for a pushed request, with any `extra` query parameters. */
export function authorizationUrl(client: string, requestUri: string, extra: Record<string, string> = {}): string {
  return `/authorize?${new URLSearchParams({ client_id: client, request_uri: requestUri, ...extra })}`;
}

/** Like `authorize`, from any authorization URL (absolute or a path on the public listener). */
export async function authorizeAt(h: Harness, url: string, options: AuthorizeOptions = {}): Promise<URL> {
  const jar = options.jar ?? new CookieJar();
  let page = await browserRequest(h, jar, url);
  if (page.status !== 200) throw new Error(`authorize failed: ${page.status} ${page.text.slice(0, 300)}`);
  if (page.text.includes('name="password"')) {
    const { action, csrf } = formOf(page.text);
    const login = await browserRequest(h, jar, action, { csrf, username: options.username ?? 'alice', password: options.password ?? 'wonderland', action: 'login' });
    if (login.status !== 303) throw new Error(`login failed: ${login.status} ${login.text.slice(0, 300)}`);
    page = await browserRequest(h, jar, login.headers.location as string);
  }
  options.onConsentPage?.(page.text);
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

/**
 * A request to a client-authenticated mTLS endpoint (token, introspection, revocation) as `client`:
 * client-one adds a fresh assertion, client-two relies on its certificate. `agent` replaces the
 * connection (another certificate, or none).
 */
export async function clientPost(
  h: Harness,
  pathname: string,
  form: Record<string, string>,
  client: ClientName = 'client-one',
  options: { agent?: Agent } = {},
): Promise<Response> {
  const auth = client === 'client-one' ? await h.assertionForm() : {};
  return h.post(pathname, { client_id: client, ...form, ...auth }, { client, ...(options.agent ? { agent: options.agent } : {}) });
}

/** A refresh_token grant request as `client`. */
export function refresh(h: Harness, refreshToken: string, client: ClientName = 'client-one', options: { scope?: string; agent?: Agent } = {}): Promise<Response> {
  const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
  if (options.scope !== undefined) form.scope = options.scope;
  return clientPost(h, '/token', form, client, options);
}

/** A GET on the mTLS listener over `client`'s certificate, no certificate (null), or any agent. */
export async function mtlsGet(h: Harness, url: string, via: ClientName | null | Agent = 'client-one', headers: Record<string, string> = {}): Promise<Response> {
  const dispatcher = via === null ? h.agent() : typeof via === 'string' ? h.agent(via) : via;
  return readResponse(await request(new URL(url, h.mtlsBase + '/').toString(), { method: 'GET', headers, dispatcher }));
}

/** Calls userinfo with `accessToken` over `client`'s certificate (or none, or another agent). */
export function userinfo(h: Harness, accessToken: string, via: ClientName | null | Agent = 'client-one', headers: Record<string, string> = {}): Promise<Response> {
  return mtlsGet(h, '/userinfo', via, { authorization: `Bearer ${accessToken}`, ...headers });
}

/** base64url SHA-256 of a PEM certificate's DER: the `x5t#S256` a token bound to it carries. */
export function pemThumbprint(pem: string | Buffer): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

/**
 * Issues another client certificate from the test CA (e.g. a second certificate for client-one's
 * identity). `subject` is in ASN.1 order, most general first (`C=AU, O=…, CN=…`).
 */
export async function issueTestClientCertificate(
  h: Harness,
  subject: string,
  validity: Omit<Partial<CertificateRequest>, 'subject'> = {},
): Promise<{ cert: string; key: string }> {
  const [caPem, caKeyPem] = await Promise.all([readFile(h.pki.ca, 'utf8'), readFile(h.pki.caKey, 'utf8')]);
  const der = Buffer.from(caKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  const ca: Issued = { cert: new x509.X509Certificate(caPem), keys: { privateKey, publicKey: undefined as never }, certPem: caPem, keyPem: caKeyPem };
  const issued = await issueCertificate({ subject, usage: 'client', ...validity }, ca);
  return { cert: issued.certPem, key: issued.keyPem };
}
