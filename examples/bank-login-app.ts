/**
 * A tiny bank login and consent app for fapi-gateway's interaction API (docs/interaction-api.md).
 * It knows its own customers, asks the gateway what an interaction is about, and answers it over
 * the back channel with its client certificate; the browser only ever carries the interaction id.
 *
 *   node --import tsx examples/bank-login-app.ts --port 9200 --gateway https://localhost:9445 \
 *     --cert app.pem --key app-key.pem --ca gateway-ca.pem [--server-cert server.pem --server-key server-key.pem]
 *     [--user alice:wonderland:alice-sub] [--acr urn:example:loa2]
 *
 * A real app would keep its own session and CSRF protection, and check passwords properly.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

export interface BankCustomer {
  password: string;
  sub: string;
  name: string;
  email: string;
}

export interface BankLoginAppOptions {
  /** The interaction API's base URL (listeners.interaction). */
  gateway: string;
  /** This app's client certificate and key (issued by a CA in the gateway's interaction.clientCAs), and the CA of the gateway's server certificate. */
  tls: { cert: Buffer | string; key: Buffer | string; ca: Buffer | string };
  /** This app's own server certificate. */
  server: { cert: Buffer | string; key: Buffer | string };
  customers?: Record<string, BankCustomer>;
  /** The strengths the login form offers: label → acr (and its amr). */
  strengths?: { label: string; acr: string; amr: string[] }[];
  port?: number;
  host?: string;
}

const DEFAULT_CUSTOMERS: Record<string, BankCustomer> = {
  alice: { password: 'wonderland', sub: 'bank-alice-001', name: 'Alice Example', email: 'alice@example.com' },
};

export async function startBankLoginApp(options: BankLoginAppOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const customers = options.customers ?? DEFAULT_CUSTOMERS;
  const strengths = options.strengths ?? [{ label: 'Password', acr: 'urn:example:loa2', amr: ['pwd'] }];
  const agent = new Agent({ connect: { cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca } });
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(new URL(path, options.gateway + '/'), {
      method,
      dispatcher: agent,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, any> };
  };

  const server = createServer({ cert: options.server.cert, key: options.server.key }, (req, res) => {
    handle(req, res).catch((err) => page(res, 500, 'Error', `<p role="alert">${escape(String(err?.message ?? err))}</p>`));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://app.invalid');
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const id = form.get('interaction_id') ?? '';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return page(res, 400, 'Error', '<p role="alert">No interaction.</p>');
    const path = `interactions/${encodeURIComponent(id)}`;

    if (req.method === 'GET' && url.pathname === '/login') {
      const { status, json } = await api('GET', path);
      if (status !== 200) return page(res, 400, 'Error', `<p role="alert">This sign-in has expired or was completed (${escape(json.error)}).</p>`);
      return json.prompt === 'login' ? loginForm(res, id, json) : consentForm(res, id, json);
    }
    if (req.method === 'POST' && url.pathname === '/login') {
      if (form.get('action') === 'cancel') return follow(res, await api('POST', `${path}/abort`, { error: 'access_denied', error_description: 'the customer cancelled' }));
      const customer = customers[form.get('username') ?? ''];
      const current = await api('GET', path);
      if (current.status !== 200) return page(res, 400, 'Error', `<p role="alert">This sign-in has expired or was completed (${escape(current.json.error)}).</p>`);
      if (!customer || customer.password !== form.get('password')) return loginForm(res, id, current.json, 'The username or password is incorrect.');
      const strength = strengths.find((s) => s.acr === form.get('acr')) ?? strengths[0];
      const answer = await api('POST', `${path}/login`, {
        sub: customer.sub,
        acr: strength.acr,
        amr: strength.amr,
        auth_time: Math.floor(Date.now() / 1000),
        claims: { name: customer.name, email: customer.email },
      });
      if (answer.json.error === 'unmet_authentication_requirements')
        return loginForm(res, id, current.json, `A stronger sign-in is required (${answer.json.required_acr.join(', ')}).`);
      return follow(res, answer);
    }
    if (req.method === 'POST' && url.pathname === '/consent') {
      if (form.get('decision') !== 'approve') return follow(res, await api('POST', `${path}/abort`, { error: 'access_denied', error_description: 'the customer denied the request' }));
      return follow(res, await api('POST', `${path}/consent`, { scopes: form.getAll('scope'), account_ids: form.getAll('account') }));
    }
    return page(res, 404, 'Not found', '<p>Not found.</p>');
  }

  function loginForm(res: ServerResponse, id: string, interaction: Record<string, any>, error?: string): void {
    const offered = strengths.filter((s) => interaction.acr_values_supported.includes(s.acr));
    page(res, error ? 401 : 200, 'Bank sign in', `<h1>Bank sign in</h1>
<p>${escape(interaction.client.client_name)} asks you to sign in.</p>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="interaction_id" value="${escape(id)}">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<label for="acr">Sign-in method</label> <select id="acr" name="acr">${offered.map((s) => `<option value="${escape(s.acr)}">${escape(s.label)}</option>`).join('')}</select>
<button name="action" value="login">Sign in</button> <button name="action" value="cancel">Cancel</button>
</form>`);
  }

  function consentForm(res: ServerResponse, id: string, interaction: Record<string, any>): void {
    const accounts: { id: string; label: string }[] = interaction.ecosystem?.accounts ?? [];
    page(res, 200, 'Bank consent', `<h1>Share your data?</h1>
<p>${escape(interaction.client.client_name)} asks for:</p>
<form method="post" action="/consent">
<input type="hidden" name="interaction_id" value="${escape(id)}">
${interaction.scopes.map((s: string) => `<label><input type="checkbox" name="scope" value="${escape(s)}" checked> ${escape(s)}</label>`).join('\n')}
${accounts.map((a) => `<label><input type="checkbox" name="account" value="${escape(a.id)}" checked> ${escape(a.label)}</label>`).join('\n')}
<button name="decision" value="approve">Share</button> <button name="decision" value="deny">Do not share</button>
</form>`);
  }

  function follow(res: ServerResponse, answer: { status: number; json: Record<string, any> }): void {
    if (answer.status !== 200 || typeof answer.json.redirect_to !== 'string')
      return page(res, 400, 'Error', `<p role="alert">The gateway refused: ${escape(answer.json.error)} (${escape(answer.json.error_description)})</p>`);
    res.writeHead(303, { location: answer.json.redirect_to, 'cache-control': 'no-store' }).end();
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://localhost:${port}`,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await agent.close();
    },
  };
}

// No form-action: after a form post the browser follows a redirect to the gateway (a real app lists its origin there).
function customerOf(spec: string): Record<string, BankCustomer> {
  const [username, password, sub] = spec.split(':');
  if (!username || !password) throw new Error('--user is username:password[:sub]');
  return { [username]: { password, sub: sub || username, name: 'Alice Example', email: `${username}@example.com` } };
}

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>${body}</body></html>`);
}

function escape(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16_384) throw new Error('body too large');
  }
  return body;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '9200' },
      gateway: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      'server-cert': { type: 'string' },
      'server-key': { type: 'string' },
      /** A customer, `username:password:sub` (default: alice). */
      user: { type: 'string' },
      /** The acr a password login reaches at this bank. */
      acr: { type: 'string', default: 'urn:example:loa2' },
    },
  });
  if (!values.gateway || !values.cert || !values.key || !values.ca) {
    console.error('usage: bank-login-app --gateway URL --cert FILE --key FILE --ca FILE [--server-cert FILE --server-key FILE] [--port N]');
    process.exit(2);
  }
  const app = await startBankLoginApp({
    gateway: values.gateway,
    port: Number(values.port),
    tls: { cert: readFileSync(values.cert), key: readFileSync(values.key), ca: readFileSync(values.ca) },
    server: { cert: readFileSync(values['server-cert'] ?? values.cert), key: readFileSync(values['server-key'] ?? values.key) },
    strengths: [{ label: 'Password', acr: values.acr!, amr: ['pwd'] }],
    ...(values.user ? { customers: customerOf(values.user) } : {}),
  });
  console.log(`bank login app at ${app.url}/login (interaction API ${values.gateway})`);
}
