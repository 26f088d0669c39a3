// DPoP (RFC 9449 §7) at the front door: a DPoP-bound token is accepted at a proxied route and at
// userinfo only with `Authorization: DPoP` and a proof naming it (ath), the method and URL the client
// called, and the token's key; every refusal is 401 with a DPoP challenge and never reaches the
// upstream. Both kinds of token in one deployment: client-one's DPoP-bound, client-two's cert-bound.
import t, { type Test } from 'tap';
import { request } from 'undici';
import { startGateway, readResponse, type Harness, type Response } from './helpers/harness.js';
import { recordingUpstream } from './helpers/upstream.js';
import { badProofs, dpopKey, proof, type DpopKey, type ProofOptions } from './helpers/dpop.js';

for (const nonceMode of ['off', 'required'] as const) {
  t.test(`nonces ${nonceMode}`, async (t) => {
    const upstream = await recordingUpstream();
    const h = await startGateway({
      configure: (config) => {
        if (nonceMode === 'required') config.policy = { dpop: { nonce: 'required' } };
        // Clients without a certificate read discovery's plain fields: they name the public listener.
        config.discovery = { plainEndpoints: 'public' };
        config.clients[0].dpop_bound_access_tokens = true;
        config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'] }];
        // The loopback proxy's forwarded host and scheme are what clients called.
        config.tls.forwardedClientCertificate = { header: 'x-forwarded-client-cert', trustedProxies: ['10.9.9.9/32'] };
      },
    });
    t.teardown(async () => {
      await h.close();
      await upstream.close();
    });
    await resourceTests(t, h, upstream, nonceMode === 'required');
  });
}

t.test('forwarded host and scheme from a trusted proxy are the URL a proof names', async (t) => {
  const upstream = await recordingUpstream();
  const h = await startGateway({
    configure: (config) => {
      config.clients[0].dpop_bound_access_tokens = true;
      config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'] }];
      config.tls.forwardedClientCertificate = { header: 'x-forwarded-client-cert', trustedProxies: ['127.0.0.1/32'] };
      config.rateLimit = { exempt: ['127.0.0.0/8'] };
    },
  });
  t.teardown(async () => {
    await h.close();
    await upstream.close();
  });
  const key = await dpopKey();
  const token = await dpopToken(h, key, undefined);
  const forwarded = { 'x-forwarded-host': 'api.bank.example', 'x-forwarded-proto': 'https' };
  const ok = await call(h, `${h.issuer}/accounts/1`, { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: 'https://api.bank.example/accounts/1', token }), ...forwarded });
  t.equal(ok.status, 200, ok.text);
  const direct = await call(h, `${h.issuer}/accounts/1`, { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${h.issuer}/accounts/1`, token }), ...forwarded });
  t.equal(direct.status, 401, 'the listener URL is not what the client called behind the proxy');
});

async function call(h: Harness, url: string, headers: Record<string, string> | string[], method = 'GET', client?: 'client-two'): Promise<Response> {
  return readResponse(await request(url, { method: method as never, headers, dispatcher: client ? h.agent(client) : h.agent() }));
}

/** A DPoP-bound access token of client-one (client credentials at the public listener, no certificate). */
async function dpopToken(h: Harness, key: DpopKey, nonce: string | undefined): Promise<string> {
  const send = async (n: string | undefined) =>
    readResponse(await request(`${h.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'accounts', ...(await h.assertionForm()) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce: n }) },
      dispatcher: h.agent(),
    }));
  let res = await send(nonce);
  if (res.json?.error === 'use_dpop_nonce') res = await send(String(res.headers['dpop-nonce']));
  if (res.status !== 200 || res.json.token_type !== 'DPoP') throw new Error(`token: ${res.status} ${res.text}`);
  return res.json.access_token;
}

function refused(t: Test, res: Response, error: string, name: string): void {
  t.equal(res.status, 401, `${name}: 401 (${res.status} ${res.text.slice(0, 160)})`);
  const challenge = String(res.headers['www-authenticate'] ?? '');
  t.match(challenge, new RegExp(`^DPoP .*error="${error}"`), `${name}: DPoP challenge with error="${error}"`);
  t.match(challenge, /algs="PS256 ES256 EdDSA"/, `${name}: algs in the challenge`);
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`);
}

async function resourceTests(t: Test, h: Harness, upstream: Awaited<ReturnType<typeof recordingUpstream>>, nonces: boolean): Promise<void> {
  const key = await dpopKey();
  let nonce: string | undefined;
  if (nonces) {
    const first = await readResponse(await request(`${h.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/token` }) }, body: 'grant_type=client_credentials', dispatcher: h.agent() }));
    nonce = String(first.headers['dpop-nonce']);
  }
  const token = await dpopToken(h, key, nonce);
  const otherToken = await dpopToken(h, key, nonce);

  for (const [listener, base] of [['public', h.issuer], ['mtls', h.mtlsBase]] as const) {
    const url = `${base}/accounts/1`;
    const valid = (extra: Partial<ProofOptions> = {}) => proof(key, { htm: 'GET', htu: url, token, nonce, ...extra });

    t.test(`${listener} listener: a valid proof reaches the upstream; so does a POST and a query`, async (t) => {
      upstream.received.length = 0;
      const res = await call(h, url, { authorization: `DPoP ${token}`, dpop: await valid() });
      t.equal(res.status, 200, res.text);
      t.equal(upstream.received.length, 1);
      t.notOk(upstream.received[0].headers.dpop, 'the proof is not passed on');
      t.notOk(upstream.received[0].headers.authorization, 'nor the token');
      const withQuery = await call(h, `${url}?page=2`, { authorization: `dpop ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${url}?page=2`, token, nonce }) });
      t.equal(withQuery.status, 200, 'query in htu ignored; scheme name in any case');
      const post = await call(h, url, { authorization: `DPoP ${token}`, DPOP: await proof(key, { htm: 'POST', htu: url, token, nonce }) }, 'POST');
      t.equal(post.status, 200, 'POST, header name in capitals');
    });

    t.test(`${listener} listener: every refusal is 401 with a DPoP challenge and never reaches the upstream`, async (t) => {
      upstream.received.length = 0;
      // The signature's last two characters changed (to others than they were).
      const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
      const cases: Array<[string, Record<string, string> | string[], string]> = [];
      for (const [name, bad] of await badProofs(key, { htm: 'GET', htu: url, token, nonce })) cases.push([name, { authorization: `DPoP ${token}`, dpop: bad }, 'invalid_dpop_proof']);
      const now = Math.floor(Date.now() / 1000);
      const replayed = await valid();
      t.equal((await call(h, url, { authorization: `DPoP ${token}`, dpop: replayed })).status, 200, 'the first use of a proof');
      upstream.received.length = 0;
      const other = await dpopKey();
      cases.push(
        ['no proof', { authorization: `DPoP ${token}` }, 'invalid_dpop_proof'],
        ['replayed jti', { authorization: `DPoP ${token}`, dpop: replayed }, 'invalid_dpop_proof'],
        ['no ath', { authorization: `DPoP ${token}`, dpop: await valid({ token: undefined }) }, 'invalid_dpop_proof'],
        ['wrong ath', { authorization: `DPoP ${token}`, dpop: await valid({ claims: { ath: 'x'.repeat(43) } }) }, 'invalid_dpop_proof'],
        ['proof for another token', { authorization: `DPoP ${token}`, dpop: await valid({ token: otherToken }) }, 'invalid_dpop_proof'],
        ['key other than cnf.jkt', { authorization: `DPoP ${token}`, dpop: await proof(other, { htm: 'GET', htu: url, token, nonce }) }, 'invalid_dpop_proof'],
        ['iat 11 s ahead', { authorization: `DPoP ${token}`, dpop: await valid({ claims: { iat: now + 15 } }) }, 'invalid_dpop_proof'],
        ['two DPoP headers', ['authorization', `DPoP ${token}`, 'dpop', await valid(), 'DPoP', await valid()], 'invalid_dpop_proof'],
        ['the DPoP-bound token as Bearer', { authorization: `Bearer ${token}`, dpop: await valid() }, 'invalid_token'],
        ['a tampered token', { authorization: `DPoP ${tampered}`, dpop: await valid({ token: tampered }) }, 'invalid_token'],
      );
      if (nonces) {
        cases.push(
          ['no nonce', { authorization: `DPoP ${token}`, dpop: await valid({ nonce: undefined }) }, 'use_dpop_nonce'],
          ['wrong nonce', { authorization: `DPoP ${token}`, dpop: await valid({ nonce: '1.AAAA' }) }, 'use_dpop_nonce'],
        );
      }
      for (const [name, headers, error] of cases) {
        const res = await call(h, url, headers);
        refused(t, res, error, name);
        if (error === 'use_dpop_nonce') t.match(String(res.headers['dpop-nonce']), /^\d+\./, `${name}: a DPoP-Nonce to use`);
      }
      t.equal(upstream.received.length, 0, 'nothing reached the upstream');
    });

    t.test(`${listener} listener: userinfo takes the same checks`, async (t) => {
      // A client-credentials token has no openid scope: the proof passes and the scope check answers.
      const res = await call(h, `${base}/userinfo`, { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${base}/userinfo`, token, nonce }) });
      t.equal(res.status, 403, 'insufficient_scope after a good proof');
      t.match(String(res.headers['www-authenticate']), /^DPoP .*error="insufficient_scope"/);
      refused(t, await call(h, `${base}/userinfo`, { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url, token, nonce }) }), 'invalid_dpop_proof', 'a proof for another URL');
    });
  }

  t.test('a certificate-bound token (client-two) works as Bearer next to DPoP tokens, and is refused as DPoP', async (t) => {
    const tokens = await readResponse(await request(`${h.mtlsBase}/token`, {
      method: 'POST', body: 'grant_type=client_credentials&scope=accounts&client_id=client-two',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, dispatcher: h.agent('client-two'),
    }));
    t.equal(tokens.json.token_type, 'Bearer');
    const certBound = tokens.json.access_token;
    const url = `${h.mtlsBase}/accounts/1`;
    t.equal((await call(h, url, { authorization: `Bearer ${certBound}` }, 'GET', 'client-two')).status, 200, 'as Bearer with its certificate');
    upstream.received.length = 0;
    const res = await call(h, url, { authorization: `DPoP ${certBound}`, dpop: await proof(key, { htm: 'GET', htu: url, token: certBound, nonce }) }, 'GET', 'client-two');
    t.equal(res.status, 401, 'as DPoP: refused');
    t.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    t.equal(upstream.received.length, 0);
    const atPublic = await call(h, `${h.issuer}/accounts/1`, { authorization: `Bearer ${certBound}` });
    t.equal(atPublic.status, 401, 'a certificate-bound token without its certificate at the public listener');
  });

  t.test('resource refusals are counted by reason', async (t) => {
    const text = await h.gateway.context.metrics!.registry.getSingleMetricAsString('fapi_gateway_dpop_proofs_rejected_total');
    for (const reason of ['ath', 'key_mismatch', 'replayed', 'missing', 'htu', 'signature', ...(nonces ? ['nonce'] : [])])
      t.match(text, new RegExp(`site="resource",reason="${reason}"`), `reason ${reason}`);
    t.notMatch(h.logs.join('\n'), /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, 'no JWT in the logs');
  });
}
