// DPoP (RFC 9449) at the authorization server: proofs at PAR and the token endpoint, dpop_jkt, clients
// registered dpop_bound_access_tokens, DPoP-bound tokens (cnf.jkt, token_type DPoP), refresh with a new
// key, introspection, server nonces; every refusal of RFC 9449 §4.3; with nonces off and required.
// Client-one (private_key_jwt) talks to discovery's plain endpoints on the public listener without a
// certificate; client-two (tls_client_auth) to the mTLS aliases with its certificate.
import t, { type Test } from 'tap';
import * as client from 'openid-client';
import { request, fetch as undiciFetch, type Agent } from 'undici';
import { startGateway, readResponse, parForm, type ClientName, type Harness, type Response as HarnessResponse } from './helpers/harness.js';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { authorizationUrl, authorizeAt, pkce } from './helpers/flow.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { recordingUpstream } from './helpers/upstream.js';
import { badProofs, dpopKey, proof, type DpopKey } from './helpers/dpop.js';

const REDIRECT_URI = 'https://client.localhost/callback';

function fetchOver(agent: Agent): client.CustomFetch {
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response>;
}

for (const nonceMode of ['off', 'required'] as const) {
  t.test(`nonces ${nonceMode}`, async (t) => {
    const upstream = await recordingUpstream();
    const h = await startGateway({
      configure: (config) => {
        if (nonceMode === 'required') config.policy = { dpop: { nonce: 'required' } };
        // Clients without a certificate read discovery's plain fields: they name the public listener.
        config.discovery = { plainEndpoints: 'public' };
        for (const c of config.clients) c.dpop_bound_access_tokens = true;
        config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'] }];
      },
    });
    t.teardown(async () => {
      await h.close();
      await upstream.close();
    });
    await asTests(t, h, nonceMode === 'required');
  });
}

async function asTests(t: Test, h: Harness, nonces: boolean): Promise<void> {
  // Client-one has no certificate: it is served at the public listener; client-two at the mTLS one.
  const baseOf = (c: ClientName) => (c === 'client-one' ? h.issuer : h.mtlsBase);
  const agentOf = (c: ClientName) => (c === 'client-one' ? h.agent() : h.agent(c));
  const send = async (c: ClientName, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<HarnessResponse> => {
    const auth = c === 'client-one' ? await h.assertionForm() : {};
    return readResponse(await request(`${baseOf(c)}${path}`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: c, ...form, ...auth }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      dispatcher: agentOf(c),
    }));
  };
  let nonce: string | undefined;
  /** Sends with a fresh proof; when the server asks for a nonce, once more with it (as clients do). */
  const sendWithProof = async (c: ClientName, path: string, form: Record<string, string>, key: DpopKey, extra: Record<string, string> = {}): Promise<HarnessResponse> => {
    const attempt = async () => send(c, path, form, { dpop: await proof(key, { htm: 'POST', htu: `${baseOf(c)}${path}`, nonce }), ...extra });
    let res = await attempt();
    if (res.status === 400 && res.json?.error === 'use_dpop_nonce') {
      nonce = String(res.headers['dpop-nonce']);
      res = await attempt();
    }
    if (res.headers['dpop-nonce']) nonce = String(res.headers['dpop-nonce']);
    return res;
  };
  const clientCredentials = { grant_type: 'client_credentials', scope: 'accounts' };

  t.test('discovery names the DPoP algorithms and both sets of endpoints', async (t) => {
    const doc = (await readResponse(await request(`${h.issuer}/.well-known/openid-configuration`, { dispatcher: h.agent() }))).json;
    t.same(doc.dpop_signing_alg_values_supported, ['PS256', 'ES256', 'EdDSA']);
    t.equal(doc.token_endpoint, `${h.issuer}/token`);
    t.equal(doc.mtls_endpoint_aliases.token_endpoint, `${h.mtlsBase}/token`);
  });

  for (const c of ['client-one', 'client-two'] as const) {
    t.test(`openid-client with DPoP as ${c}: PAR, code, userinfo, a proxied route, refresh with a new key, introspection`, async (t) => {
      const auth = c === 'client-one' ? await privateKeyJwt(h.pki, c) : client.TlsClientAuth();
      const config = await client.discovery(new URL(h.issuer), c, { use_mtls_endpoint_aliases: c === 'client-two' }, auth, { [client.customFetch]: fetchOver(agentOf(c)) });
      const keyPair = await client.randomDPoPKeyPair('ES256');
      const DPoP = client.getDPoPHandle(config, keyPair);
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = await client.buildAuthorizationUrlWithPAR(config, {
        redirect_uri: REDIRECT_URI, scope: 'openid profile accounts', state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }, { DPoP });
      const callback = await authorizeAt(h, url.href);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
      t.equal(tokens.token_type.toLowerCase(), 'dpop', 'token_type DPoP');
      const info = await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck, { DPoP });
      t.equal(info.sub, 'alice-7f3c', 'userinfo with a DPoP-bound token');
      const api = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${baseOf(c)}/accounts/1`), 'GET', undefined, undefined, { DPoP });
      t.equal(api.status, 200, 'a proxied route with a DPoP-bound token');

      const introspected = await client.tokenIntrospection(config, tokens.access_token);
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
      t.equal(introspected.token_type, 'DPoP', 'introspection: token_type DPoP');
      t.type((introspected.cnf as Record<string, string>).jkt, 'string', 'introspection: cnf.jkt');
      t.equal((introspected.cnf as Record<string, string>).jkt, jkt, 'bound to the key of the proofs');

      // RFC 9449 §5: a confidential client's refresh token is bound to its authentication, so a new key is fine.
      const newKey = await client.randomDPoPKeyPair('ES256');
      const DPoP2 = client.getDPoPHandle(config, newKey);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: DPoP2 });
      t.equal(refreshed.token_type.toLowerCase(), 'dpop');
      const again = await client.tokenIntrospection(config, refreshed.access_token);
      t.not((again.cnf as Record<string, string>).jkt, (introspected.cnf as Record<string, string>).jkt, 'the new token is bound to the new key');
      t.equal((await client.fetchUserInfo(config, refreshed.access_token, client.skipSubjectCheck, { DPoP: DPoP2 })).sub, 'alice-7f3c');
      try {
        await client.fetchUserInfo(config, refreshed.access_token, client.skipSubjectCheck, { DPoP });
        t.fail('the old key is refused for the new token');
      } catch (err) {
        t.match(err, { status: 401 }, 'the old key is refused for the new token');
      }
    });
  }

  /** PAR (as `c`, with an optional proof), login and consent; the code of the redirect. */
  const codeFor = async (c: ClientName, parExtra: { key?: DpopKey; dpop_jkt?: string }) => {
    const { verifier, challenge } = pkce();
    const form = parForm({ client_id: c, code_challenge: challenge, ...(parExtra.dpop_jkt ? { dpop_jkt: parExtra.dpop_jkt } : {}) });
    const pushed = parExtra.key ? await sendWithProof(c, '/par', form, parExtra.key) : await send(c, '/par', form);
    if (pushed.status !== 201) throw new Error(`PAR failed: ${pushed.status} ${pushed.text}`);
    const callback = await authorizeAt(h, authorizationUrl(c, pushed.json.request_uri));
    return { code: callback.searchParams.get('code')!, verifier };
  };
  const redeemWith = (c: ClientName, code: { code: string; verifier: string }, key: DpopKey) =>
    sendWithProof(c, '/token', { grant_type: 'authorization_code', code: code.code, code_verifier: code.verifier, redirect_uri: REDIRECT_URI }, key);

  for (const c of ['client-one', 'client-two'] as const) {
    t.test(`${c}: dpop_jkt at PAR binds the code to the key`, async (t) => {
      const key = await dpopKey();
      const ok = await redeemWith(c, await codeFor(c, { dpop_jkt: key.jkt }), key);
      t.equal(ok.status, 200, ok.text);
      t.equal(ok.json.token_type, 'DPoP');
      const other = await dpopKey();
      const refused = await redeemWith(c, await codeFor(c, { dpop_jkt: key.jkt }), other);
      t.equal(refused.status, 400);
      t.equal(refused.json.error, 'invalid_grant', 'a proof with another key than dpop_jkt');
      t.equal(refused.headers['cache-control'], 'no-store');
    });

    t.test(`${c}: a proof at PAR binds the code to its key`, async (t) => {
      const key = await dpopKey('PS256');
      const ok = await redeemWith(c, await codeFor(c, { key }), key);
      t.equal(ok.status, 200, ok.text);
      const refused = await redeemWith(c, await codeFor(c, { key }), await dpopKey('EdDSA'));
      t.equal(refused.status, 400);
      t.equal(refused.json.error, 'invalid_grant', 'a proof with another key than the PAR proof');
      const noProof = await send(c, '/token', { grant_type: 'authorization_code', ...(await codeFor(c, { key }).then((x) => ({ code: x.code, code_verifier: x.verifier }))), redirect_uri: REDIRECT_URI });
      t.equal(noProof.status, 400, 'no proof at all');
    });

    t.test(`${c}: dpop_jkt other than the PAR proof's key is refused`, async (t) => {
      const key = await dpopKey();
      const other = await dpopKey();
      const res = await sendWithProof(c, '/par', parForm({ client_id: c, dpop_jkt: other.jkt }), key);
      t.equal(res.status, 400);
      t.equal(res.json.error, 'invalid_dpop_proof');
      const malformed = await send(c, '/par', parForm({ client_id: c, dpop_jkt: 'not a thumbprint' }));
      t.equal(malformed.status, 400);
      t.equal(malformed.json.error, 'invalid_request');
    });

    t.test(`${c}: registered dpop_bound_access_tokens: no proof, no token`, async (t) => {
      const res = await send(c, '/token', clientCredentials);
      t.equal(res.status, 400);
      t.equal(res.json.error, 'invalid_dpop_proof');
      t.equal(res.headers['cache-control'], 'no-store');
    });

    t.test(`${c}: client credentials with a proof: a DPoP-bound token`, async (t) => {
      const key = await dpopKey('EdDSA');
      const res = await sendWithProof(c, '/token', clientCredentials, key);
      t.equal(res.status, 200, res.text);
      t.equal(res.json.token_type, 'DPoP');
      const claims = JSON.parse(Buffer.from(res.json.access_token.split('.')[1], 'base64url').toString());
      t.same(claims.cnf, { jkt: key.jkt }, 'cnf.jkt and nothing else');
      if (nonces) t.ok(res.headers['dpop-nonce'], 'a fresh nonce with the answer');
    });
  }

  t.test('every refusal of the checklist at the token endpoint and at PAR: 400 invalid_dpop_proof', async (t) => {
    const key = await dpopKey();
    await sendWithProof('client-one', '/token', clientCredentials, key); // learns the nonce
    for (const [path, form] of [['/token', clientCredentials], ['/par', parForm()]] as const) {
      const base = { htm: 'POST', htu: `${h.issuer}${path}`, nonce };
      for (const [name, bad] of await badProofs(key, base)) {
        const res = await send('client-one', path, form, { dpop: bad });
        t.equal(res.status, 400, `${path} ${name}: 400`);
        t.equal(res.json?.error, 'invalid_dpop_proof', `${path} ${name}: invalid_dpop_proof`);
        t.equal(res.headers['cache-control'], 'no-store');
      }
      // The mTLS listener's URL is another htu than the public one's.
      const elsewhere = await send('client-one', path, form, { dpop: await proof(key, { ...base, htu: `${h.mtlsBase}${path}` }) });
      t.equal(elsewhere.json?.error, 'invalid_dpop_proof', `${path}: the other listener's URL`);
    }
  });

  t.test('a replayed proof and two DPoP headers are refused', async (t) => {
    const key = await dpopKey();
    await sendWithProof('client-one', '/token', clientCredentials, key);
    const once = await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce });
    t.equal((await send('client-one', '/token', clientCredentials, { dpop: once })).status, 200, 'first use');
    const replay = await send('client-one', '/token', clientCredentials, { dpop: once });
    t.equal(replay.status, 400);
    t.equal(replay.json.error, 'invalid_dpop_proof', 'replayed jti');
    const two = await readResponse(await request(`${h.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ ...clientCredentials, ...(await h.assertionForm()) }).toString(),
      headers: [
        'content-type', 'application/x-www-form-urlencoded',
        'DPoP', await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce }),
        'dpop', await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce }),
      ],
      dispatcher: h.agent(),
    }));
    t.equal(two.status, 400);
    t.equal(two.json.error, 'invalid_dpop_proof', 'two DPoP headers');
  });

  t.test('accepted: htu with query, fragment, upper-case host, default-port form; iat ±10 s; nbf/exp; extra claims', async (t) => {
    const key = await dpopKey();
    await sendWithProof('client-one', '/token', clientCredentials, key);
    const now = Math.floor(Date.now() / 1000);
    const port = new URL(h.issuer).port;
    for (const [name, options] of [
      ['query and fragment', { htu: `${h.issuer}/token?x=1#frag` }],
      ['upper-case scheme and host', { htu: `HTTPS://LOCALHOST:${port}/token` }],
      ['percent-encoded unreserved path', { htu: `${h.issuer}/%74oken` }],
      ['iat 10 s ahead', { claims: { iat: now + 9 } }],
      ['iat 10 s ago', { claims: { iat: now - 10 } }],
      ['nbf and exp', { claims: { nbf: now, exp: now + 300 } }],
      ['extra claims and header fields', { claims: { extra: 'x' }, header: { kid: 'k1' } }],
    ] as const) {
      const res = await send('client-one', '/token', clientCredentials, { dpop: await proof(key, { htm: 'POST', nonce, ...options, htu: 'htu' in options ? options.htu : `${h.issuer}/token` }) });
      t.equal(res.status, 200, `${name}: ${res.text.slice(0, 200)}`);
    }
  });

  if (nonces) {
    t.test('nonces: missing or wrong → 400 use_dpop_nonce with a DPoP-Nonce header; the given one works', async (t) => {
      const key = await dpopKey();
      for (const [name, n] of [['missing', undefined], ['wrong', '123.abc'], ['forged window', `${Math.floor(Date.now() / 60000)}.AAAAAAAAAAAAAAAAAAAAAAAA`]] as const) {
        const res = await send('client-one', '/token', clientCredentials, { dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce: n }) });
        t.equal(res.status, 400, name);
        t.equal(res.json.error, 'use_dpop_nonce', `${name}: use_dpop_nonce`);
        t.match(String(res.headers['dpop-nonce']), /^\d+\.[A-Za-z0-9_-]+$/, `${name}: DPoP-Nonce`);
      }
      const first = await send('client-one', '/token', clientCredentials, { dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/token` }) });
      const given = String(first.headers['dpop-nonce']);
      const ok = await send('client-one', '/token', clientCredentials, { dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/token`, nonce: given }) });
      t.equal(ok.status, 200, ok.text);
      const par = await send('client-one', '/par', parForm(), { dpop: await proof(key, { htm: 'POST', htu: `${h.issuer}/par` }) });
      t.equal(par.json.error, 'use_dpop_nonce', 'at PAR too');
    });
  }

  t.test('refusals are counted by reason; logs carry neither proofs nor tokens', async (t) => {
    const text = await h.gateway.context.metrics!.registry.getSingleMetricAsString('fapi_gateway_dpop_proofs_rejected_total');
    for (const reason of ['typ', 'alg', 'jwk', 'signature', 'htm', 'htu', 'iat', 'claims', 'replayed', 'multiple', 'missing'])
      t.match(text, new RegExp(`site="authorization_server",reason="${reason}"`), `reason ${reason} counted`);
    const logs = h.logs.join('\n');
    t.notMatch(logs, /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, 'no JWT in the logs');
  });
}
