// Pushed authorization requests (RFC 9126; checklist "Pushed authorization requests"): every
// parameter rule accepting and rejecting, the HTTP edges of the endpoint, and the request_uri issued.
import t from 'tap';
import { request } from 'undici';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { parForm, readResponse, startGateway, type Harness, type Response } from './helpers/harness.js';

const QUERY_REDIRECT_URI = 'https://client.localhost/callback?dummy1=lorem&dummy2=ipsum';
const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:([A-Za-z0-9_-]+)$/;

let h: Harness;
t.before(async () => {
  h = await startGateway({
    configure(config) {
      config.clients[0].redirect_uris.push(QUERY_REDIRECT_URI);
    },
  });
});
t.teardown(() => h?.close());

/** The type of a subtest's `t`. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** Every status the endpoint answered, to check that none is a 5xx. */
const statuses: number[] = [];
const seen = (res: Response) => (statuses.push(res.status), res);

/** A PAR by client-one (private_key_jwt) with `overrides` applied to a valid request. */
async function par(overrides: Record<string, string | undefined> = {}): Promise<Response> {
  return seen(await h.post('/par', { ...parForm(overrides), ...(await h.assertionForm()) }));
}

/** A valid, authenticated PAR body with `extra` appended verbatim. */
async function parRaw(extra: string, headers?: Record<string, string>): Promise<Response> {
  const body = new URLSearchParams({ ...parForm(), ...(await h.assertionForm()) }).toString() + extra;
  return seen(await h.post('/par', body, { headers }));
}

/** A request with full control over method, headers and body (no default content type). */
async function send(method: string, body: string | Buffer | undefined, headers: Record<string, string> = {}): Promise<Response> {
  return seen(await readResponse(await request(h.mtlsBase + '/par', { method: method as never, body, headers, dispatcher: h.agent('client-one') })));
}

function accepted(t: Tap, res: Response, why = 'accepted') {
  t.equal(res.status, 201, `${why}: ${res.text}`);
  t.match(res.json?.request_uri, REQUEST_URI);
  t.equal(res.headers['cache-control'], 'no-store');
}

function refused(t: Tap, res: Response, error: string, status = 400, why = error) {
  t.equal(res.status, status, `${why}: ${res.text}`);
  t.match(res.headers['content-type'], /^application\/json/, 'a JSON error');
  t.equal(res.json?.error, error, why);
  t.type(res.json?.error_description, 'string');
  t.equal(res.headers['cache-control'], 'no-store');
}

t.test('a valid request is accepted', async (t) => {
  accepted(t, await par());
});

t.test('a method other than POST gets 405 with Allow', async (t) => {
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
    const res = await send(method, undefined);
    refused(t, res, 'invalid_request', 405, method);
    t.equal(res.headers.allow, 'POST', `${method}: Allow: POST`);
  }
});

t.test('redirect_uri', async (t) => {
  refused(t, await par({ redirect_uri: undefined }), 'invalid_request', 400, 'missing');
  refused(t, await par({ redirect_uri: 'https://attacker.example/callback' }), 'invalid_request', 400, 'not registered');
  refused(t, await par({ redirect_uri: DEMO_REDIRECT_URI + '/' }), 'invalid_request', 400, 'a trailing slash added');
  refused(t, await par({ redirect_uri: DEMO_REDIRECT_URI + '?x=1' }), 'invalid_request', 400, 'a query added');
  refused(t, await par({ redirect_uri: DEMO_REDIRECT_URI + '#x' }), 'invalid_request', 400, 'a fragment added');
  refused(t, await par({ redirect_uri: 'https://CLIENT.localhost/callback' }), 'invalid_request', 400, 'the host in another case');
  refused(t, await par({ redirect_uri: 'http://client.localhost/callback' }), 'invalid_request', 400, 'http instead of https');
  accepted(t, await par({ redirect_uri: DEMO_REDIRECT_URI }), 'the registered URI');
});

t.test('a registered redirect URI with a query matches exactly', async (t) => {
  accepted(t, await par({ redirect_uri: QUERY_REDIRECT_URI }), 'exactly as registered');
  refused(t, await par({ redirect_uri: 'https://client.localhost/callback?dummy2=ipsum&dummy1=lorem' }), 'invalid_request', 400, 'query reordered');
  refused(t, await par({ redirect_uri: 'https://client.localhost/callback?dummy1=lorem' }), 'invalid_request', 400, 'part of the query');
  refused(t, await par({ redirect_uri: QUERY_REDIRECT_URI + '&dummy3=x' }), 'invalid_request', 400, 'a parameter added');
});

t.test('response_type', async (t) => {
  refused(t, await par({ response_type: undefined }), 'invalid_request', 400, 'missing');
  refused(t, await par({ response_type: 'token' }), 'unsupported_response_type', 400, 'token');
  refused(t, await par({ response_type: 'code id_token' }), 'unsupported_response_type', 400, 'code id_token');
  refused(t, await par({ response_type: 'id_token' }), 'unsupported_response_type', 400, 'id_token');
});

t.test('response_mode', async (t) => {
  refused(t, await par({ response_mode: 'fragment' }), 'invalid_request', 400, 'fragment');
  refused(t, await par({ response_mode: 'form_post' }), 'invalid_request', 400, 'form_post');
  accepted(t, await par({ response_mode: 'query' }), 'query');
});

t.test('PKCE', async (t) => {
  refused(t, await par({ code_challenge: undefined }), 'invalid_request', 400, 'no code_challenge');
  refused(t, await par({ code_challenge_method: 'plain' }), 'invalid_request', 400, 'method plain');
  refused(t, await par({ code_challenge_method: undefined }), 'invalid_request', 400, 'method missing');
  refused(t, await par({ code_challenge_method: 's256' }), 'invalid_request', 400, 'method in lower case');
  refused(t, await par({ code_challenge: 'too-short' }), 'invalid_request', 400, 'challenge too short');
  refused(t, await par({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM=' }), 'invalid_request', 400, 'not base64url');
  refused(t, await par({ code_challenge: 'a'.repeat(129) }), 'invalid_request', 400, 'challenge too long');
});

t.test('scope', async (t) => {
  refused(t, await par({ scope: 'openid payments' }), 'invalid_scope', 400, 'a scope the client does not have');
  refused(t, await par({ scope: undefined }), 'invalid_scope', 400, 'no scope');
  accepted(t, await par({ scope: 'openid profile email accounts transactions' }), "all the client's scopes");
  accepted(t, await par({ scope: 'accounts' }), 'without openid');
});

t.test('request_uri and request parameters are refused', async (t) => {
  refused(t, await par({ request_uri: 'urn:ietf:params:oauth:request_uri:abc' }), 'invalid_request', 400, 'request_uri');
  refused(t, await par({ request: 'eyJhbGciOiJQUzI1NiJ9.e30.c2ln' }), 'request_not_supported', 400, 'request');
});

t.test('claims must be a JSON object', async (t) => {
  refused(t, await par({ claims: '{"id_token":' }), 'invalid_request', 400, 'malformed JSON');
  refused(t, await par({ claims: '["acr"]' }), 'invalid_request', 400, 'an array');
  refused(t, await par({ claims: '{"id_token":{"acr":"x"}}' }), 'invalid_request', 400, 'a member that is neither null nor an object');
  refused(t, await par({ claims: '{"id_token":[]}' }), 'invalid_request', 400, 'a target that is not an object');
  refused(t, await par({ claims: '{"id_token":{"acr":{"essential":"yes"}}}' }), 'invalid_request', 400, 'essential not a boolean');
  refused(t, await par({ claims: '{"id_token":{"acr":{"values":"x"}}}' }), 'invalid_request', 400, 'values not an array');
  accepted(t, await par({ claims: JSON.stringify({ id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:3' } } }) }), 'a valid claims request');
});

t.test('prompt and max_age', async (t) => {
  refused(t, await par({ prompt: 'sometimes' }), 'invalid_request', 400, 'an unknown prompt value');
  refused(t, await par({ prompt: 'none login' }), 'invalid_request', 400, 'none with another value');
  refused(t, await par({ max_age: '-1' }), 'invalid_request', 400, 'a negative max_age');
  refused(t, await par({ max_age: 'soon' }), 'invalid_request', 400, 'max_age not a number');
  accepted(t, await par({ prompt: 'login consent', max_age: '300' }), 'prompt login consent, max_age 300');
});

t.test('form encoding', async (t) => {
  refused(t, await parRaw('&scope=openid'), 'invalid_request', 400, 'scope sent twice');
  const notUtf8 = await parRaw('&ui_locales=%C3%28');
  refused(t, notUtf8, 'invalid_request', 400, 'not UTF-8 (%C3%28)');
  t.match(notUtf8.json?.error_description, /UTF-8/);
  refused(t, await parRaw('&state=%ZZ'), 'invalid_request', 400, 'a broken percent-escape');
  const valid = new URLSearchParams({ ...parForm(), ...(await h.assertionForm()) }).toString();
  const rawBytes = Buffer.concat([Buffer.from(valid + '&ui_locales='), Buffer.from([0xc3, 0x28])]);
  const raw = await send('POST', rawBytes, { 'content-type': 'application/x-www-form-urlencoded' });
  refused(t, raw, 'invalid_request', 400, 'raw bytes that are not UTF-8');
  t.match(raw.json?.error_description, /UTF-8/);
  accepted(t, await parRaw('', { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }), 'with charset=UTF-8');
});

t.test('content type other than a form', async (t) => {
  const form = { ...parForm(), ...(await h.assertionForm()) };
  const json = await send('POST', JSON.stringify(form), { 'content-type': 'application/json' });
  refused(t, json, 'invalid_request', 400, 'JSON');
  const none = await send('POST', new URLSearchParams({ ...parForm(), ...(await h.assertionForm()) }).toString());
  refused(t, none, 'invalid_request', 400, 'no content type');
  const text = await send('POST', 'hello', { 'content-type': 'text/plain' });
  refused(t, text, 'invalid_request', 400, 'text/plain');
});

t.test('a body over the limit gets 413 with a JSON error', async (t) => {
  const res = await parRaw('&padding=' + 'a'.repeat(100 * 1024));
  refused(t, res, 'invalid_request', 413, '100 KB body');
  accepted(t, await par(), 'the endpoint still works afterwards');
});

t.test('state and nonce of 500 characters are accepted', async (t) => {
  const state = 'S'.repeat(250) + '-._~' + 's'.repeat(246);
  const nonce = 'N'.repeat(500);
  accepted(t, await par({ state, nonce }));
  const stored = await h.gateway.context.store.get<{ request: { state?: string; nonce?: string } }>(
    'par',
    REQUEST_URI.exec((await par({ state, nonce })).json.request_uri)![1],
  );
  t.equal(stored?.request.state, state, 'state kept exactly');
  t.equal(stored?.request.nonce, nonce, 'nonce kept exactly');
});

t.test('request_uri: at least 128 bits of randomness, never repeated; expires_in under 600 s', async (t) => {
  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const res = await par();
    accepted(t, res);
    const id = REQUEST_URI.exec(res.json.request_uri)![1];
    t.ok(id.length >= 43, `${id.length} base64url characters (≥ 128 bits)`);
    ids.add(id);
    t.ok(Number.isInteger(res.json.expires_in) && res.json.expires_in > 0 && res.json.expires_in < 600, `expires_in ${res.json.expires_in}`);
  }
  t.equal(ids.size, 5, 'all different');
});

t.test('no request was answered with a 5xx', async (t) => {
  t.ok(statuses.length > 50);
  t.same(statuses.filter((s) => s >= 500), []);
});
