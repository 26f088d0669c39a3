/**
 * JARM (JWT Secured Authorization Response Mode): with `response_mode=jwt` or `query.jwt` pushed at
 * PAR, the authorization response (a code, or an error: the user cancels, prompt=none cannot be
 * met) comes back as one signed `response` parameter. Verified by an independent relying party
 * (openid-client's JARM mode) and, claim by claim, with jose against the published JWKS.
 */
import t, { type Test } from 'tap';
import * as client from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { fetch as undiciFetch, type Agent } from 'undici';
import { parForm, startGateway, type ClientName, type Harness } from './helpers/harness.js';
import { authorize, authorizationUrl, authorizeAt, browserRequest, CookieJar, push } from './helpers/flow.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { derivedProfile } from './helpers/derived-profile.js';

const REDIRECT_URI = 'https://client.localhost/callback';

let h: Harness;
let baseline: Harness;
t.before(async () => {
  const profile = await derivedProfile();
  h = await startGateway({ configure: (config) => void (config.profile = profile) });
  baseline = await startGateway();
});
t.teardown(async () => {
  await h?.close();
  await baseline?.close();
});

function fetchOver(agent: Agent): client.CustomFetch {
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response>;
}

async function configure(clientId: ClientName): Promise<client.Configuration> {
  const auth = clientId === 'client-one' ? await privateKeyJwt(h.pki, clientId) : client.TlsClientAuth();
  const config = await client.discovery(new URL(h.issuer), clientId, { use_mtls_endpoint_aliases: true }, auth, {
    [client.customFetch]: fetchOver(h.agent(clientId)),
  });
  client.useJwtResponseMode(config);
  return config;
}

/** Verifies a JARM response with the gateway's published keys; returns its claims and header. */
async function verifyResponse(t: Test, callback: URL, clientId: string) {
  t.same([...callback.searchParams.keys()], ['response'], 'nothing but `response` in the query (no iss, state or code next to it)');
  const jwt = callback.searchParams.get('response')!;
  const jwks = (await h.get(`${h.issuer}/jwks`)).json as { keys: { kid: string }[] };
  const header = decodeProtectedHeader(jwt);
  t.ok(jwks.keys.some((k) => k.kid === header.kid), 'signed with a key the server publishes (kid in the header)');
  t.ok(['PS256', 'ES256', 'EdDSA'].includes(header.alg!), 'a FAPI 2.0 algorithm');
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks as never), { issuer: h.issuer, audience: clientId });
  t.ok(payload.exp! - Math.floor(Date.now() / 1000) <= 600, 'expires within 10 minutes');
  t.notOk('iss' in Object.fromEntries(callback.searchParams), 'iss only inside the JWT');
  return { payload: payload as JWTPayload & Record<string, string>, header };
}

for (const clientId of ['client-one', 'client-two'] as const) {
  t.test(`${clientId}: code flow with response_mode=jwt, verified by openid-client`, async (t) => {
    const config = await configure(clientId);
    t.ok(config.serverMetadata().response_modes_supported?.includes('jwt'), 'discovery offers jwt');
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile accounts',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      response_mode: 'jwt',
      state,
      nonce,
    });
    const callback = await authorizeAt(h, url.href);
    const { payload } = await verifyResponse(t, callback, clientId);
    t.equal(payload.state, state, 'state inside the JWT');
    t.type(payload.code, 'string', 'the code inside the JWT');

    // A response signed by someone else is refused by the library: its checks are really on.
    const forged = new URL(callback);
    const [head, body] = forged.searchParams.get('response')!.split('.');
    forged.searchParams.set('response', `${head}.${body}.${Buffer.from('not the signature').toString('base64url')}`);
    await t.rejects(client.authorizationCodeGrant(config, forged, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }), 'a forged response is refused');

    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    t.equal(tokens.claims()?.sub, 'alice-7f3c', 'the code from the JARM response redeems to tokens');
    t.equal(tokens.claims()?.nonce, nonce);
  });
}

t.test('query.jwt is the same encoding; a registered redirect URI query is kept', async (t) => {
  const pushed = await push(h, 'client-two', { response_mode: 'query.jwt' });
  const callback = await authorize(h, pushed, { client: 'client-two' });
  t.equal(callback.origin + callback.pathname, REDIRECT_URI);
  const { payload } = await verifyResponse(t, callback, 'client-two');
  t.equal(payload.state, pushed.state);
  t.type(payload.code, 'string');
});

t.test('the user cancels: access_denied as a JARM response, seen by openid-client', async (t) => {
  const config = await configure('client-one');
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    response_mode: 'jwt',
    state,
  });
  const callback = await authorizeAt(h, url.href, { decision: 'deny' });
  const { payload } = await verifyResponse(t, callback, 'client-one');
  t.equal(payload.error, 'access_denied');
  t.type(payload.error_description, 'string');
  t.equal(payload.state, state);
  t.notOk('code' in payload);
  await t.rejects(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }), { error: 'access_denied' } as never, 'the library reads the error out of the JWT');
});

t.test('an error the authorization endpoint answers at once (prompt=none, nobody signed in) is JARM too', async (t) => {
  const pushed = await push(h, 'client-one', { response_mode: 'jwt', prompt: 'none' });
  const res = await browserRequest(h, new CookieJar(), authorizationUrl('client-one', pushed.requestUri));
  t.equal(res.status, 303);
  const { payload } = await verifyResponse(t, new URL(res.headers.location as string), 'client-one');
  t.equal(payload.error, 'login_required');
  t.equal(payload.state, pushed.state);
});

t.test('response modes not offered are refused at PAR with invalid_request', async (t) => {
  for (const mode of ['fragment.jwt', 'form_post.jwt', 'form_post', 'fragment', 'JWT']) {
    const res = await h.post('/par', { ...(await pushForm('client-one', mode)), ...(await h.assertionForm()) });
    t.equal(res.status, 400, mode);
    t.equal(res.json?.error, 'invalid_request', mode);
    t.match(res.json?.error_description, /response_mode must be one of query, jwt, query\.jwt/);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const res = await baseline.post('/par', { ...(await pushForm('client-one', 'jwt')), ...(await baseline.assertionForm()) });
  t.equal(res.status, 400, 'the baseline fapi2 profile does not offer JARM');
  t.equal(res.json?.error, 'invalid_request');
  t.match(res.json?.error_description, /response_mode must be one of query$/);
});

async function pushForm(clientId: string, mode: string): Promise<Record<string, string>> {
  return parForm({ client_id: clientId, response_mode: mode });
}

t.test('discovery advertises JARM on its profile only', async (t) => {
  const doc = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json as Record<string, unknown>;
  t.same(doc.response_modes_supported, ['query', 'jwt', 'query.jwt']);
  t.same([...(doc.authorization_signing_alg_values_supported as string[])].sort(), ['ES256', 'PS256'], 'the JARM algorithms the server has keys for');
  t.same(doc.authorization_encryption_alg_values_supported, ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES']);
  t.same(doc.authorization_encryption_enc_values_supported, ['A256GCM', 'A128GCM']);
  t.same(doc.id_token_encryption_alg_values_supported, ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES']);
  t.same(doc.userinfo_encryption_enc_values_supported, ['A256GCM', 'A128GCM']);
  const plain = (await baseline.get(`${baseline.issuer}/.well-known/openid-configuration`)).json as Record<string, unknown>;
  t.same(plain.response_modes_supported, ['query']);
  for (const field of ['authorization_signing_alg_values_supported', 'authorization_encryption_alg_values_supported', 'id_token_encryption_alg_values_supported', 'userinfo_encryption_alg_values_supported'])
    t.notOk(field in plain, `the baseline has no ${field}`);
});

t.test('authorization responses are counted by mode', async (t) => {
  const text = await h.gateway.context.metrics!.registry.metrics();
  t.match(text, /fapi_gateway_authorization_responses_total\{mode="jwt",kind="code"\} [1-9]/);
  t.match(text, /fapi_gateway_authorization_responses_total\{mode="jwt",kind="error"\} [1-9]/);
  t.match(text, /fapi_gateway_authorization_responses_total\{mode="query.jwt",kind="code"\} [1-9]/);
});
