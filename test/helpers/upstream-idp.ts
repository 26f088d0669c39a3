import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Provider from 'oidc-provider';

export interface UpstreamIdp {
  issuer: string;
  /** What the provider's login form did, in order (prompt reasons of each login shown). */
  logins: { reasons: string[]; params: Record<string, unknown> }[];
  close(): Promise<void>;
}

/**
 * The bank's identity provider for tests: node-oidc-provider on loopback https, with one client (the
 * gateway, private_key_jwt) and a login form of its own where the customer picks how strongly to sign
 * in (the `acr` and `amr` the provider then asserts).
 */
export async function startUpstreamIdp(options: {
  port: number;
  tls: { cert: Buffer; key: Buffer };
  gatewayJwk: Record<string, unknown>;
  redirectUri: string;
  methods: { label: string; acr: string; amr: string[] }[];
}): Promise<UpstreamIdp> {
  const issuer = `https://localhost:${options.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'fapi-gateway',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [options.gatewayJwk] },
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        require_auth_time: true,
      } as never,
    ],
    acrValues: options.methods.map((m) => m.acr),
    claims: { acr: null, auth_time: null, sid: null, openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ['upstream-idp-test-cookie-key'] },
    async findAccount(_ctx: unknown, id: string) {
      return { accountId: id, claims: async () => ({ sub: id, name: `${id[0].toUpperCase()}${id.slice(1)} Upstream`, email: `${id}@bank.example`, email_verified: true }) };
    },
  } as never);
  const logins: UpstreamIdp['logins'] = [];
  const callback = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'consent') {
      const grant = new provider.Grant({ accountId: String(session?.accountId), clientId: String(params.client_id) });
      grant.addOIDCScope(String(params.scope));
      const missing = (prompt.details.missingOIDCClaims as string[] | undefined) ?? [];
      if (missing.length) grant.addOIDCClaims(missing);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await body(req));
      const method = options.methods.find((m) => m.acr === form.get('method')) ?? options.methods[0];
      await provider.interactionFinished(req, res, { login: { accountId: form.get('username') ?? 'nobody', acr: method.acr, amr: method.amr } }, { mergeWithLastSubmission: false });
      return;
    }
    logins.push({ reasons: prompt.reasons, params });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><title>IdP sign in</title></head><body><h1>IdP sign in</h1>
<form method="post" action="/interaction/${details.uid}">
<label for="username">IdP username</label> <input id="username" name="username">
<label for="method">IdP method</label> <select id="method" name="method">${options.methods.map((m) => `<option value="${m.acr}">${m.label}</option>`).join('')}</select>
<button>IdP continue</button></form></body></html>`);
  }

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((err) => {
        res.writeHead(500).end(String(err));
      });
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return {
    issuer,
    logins,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}
