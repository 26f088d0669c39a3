// Signed (and encrypted) request objects at PAR (RFC 9101, FAPI 2.0 Message Signing §5.3.2) with the
// gateway on the fapi2-message-signing profile: every refusal with its error, the acceptances the
// conformance suite checks, parameters taken only from the object, the jti replay cache, encrypted
// request objects, and a whole flow per client authentication method driven by openid-client's JAR.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CompactEncrypt, exportJWK, generateKeyPair, importJWK, SignJWT, base64url, type JWK } from 'jose';
import * as client from 'openid-client';
import { fetch as undiciFetch, type Agent } from 'undici';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { REQUEST_URI_PREFIX, type PushedRequest } from '../src/oauth/par.js';
import { authorize, authorizeAt, pkce, redeem } from './helpers/flow.js';
import { startGateway, type ClientName, type Harness, type Response } from './helpers/harness.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { requestObjectClaims } from './helpers/request-objects.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

let h: Harness;
let dir: string;
/** The server's encryption keys as this test wrote them (RSA-OAEP-256 and ECDH-ES). */
const serverEncryptionKeys: JWK[] = [];

t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-request-object-'));
  for (const [alg, kid] of [['RSA-OAEP-256', 'enc-rsa'], ['ECDH-ES', 'enc-ec']] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    serverEncryptionKeys.push({ ...(await exportJWK(privateKey)), kid, alg, use: 'enc' });
  }
  const file = path.join(dir, 'enc.jwks.json');
  await writeFile(file, JSON.stringify({ keys: serverEncryptionKeys }), { mode: 0o600 });
  h = await startGateway({
    configure(config) {
      config.profile = 'fapi2-message-signing';
      config.keys.encryption = file;
    },
  });
});
t.teardown(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

const statuses: number[] = [];

async function clientKey(name: ClientName): Promise<{ key: CryptoKey; kid: string; alg: string }> {
  const jwk = JSON.parse(await readFile(h.pki.clients[name].jwk, 'utf8')) as JWK;
  return { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid!, alg: jwk.alg! };
}

/** Valid authorization parameters as request object claims for `name`. */
const claimsFor = (name: ClientName, challenge?: string) => requestObjectClaims(h, name, challenge);

/** A request object for `name` with `overrides` (undefined removes a claim), signed by its own key unless told. */
async function requestObject(
  name: ClientName = 'client-one',
  overrides: Record<string, unknown> = {},
  options: { header?: Record<string, unknown>; signer?: ClientName; key?: CryptoKey; alg?: string } = {},
): Promise<string> {
  const payload = { ...claimsFor(name), ...overrides };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const signer = await clientKey(options.signer ?? name);
  const header = { alg: options.alg ?? signer.alg, kid: signer.kid, typ: 'oauth-authz-req+jwt', ...options.header };
  for (const k of Object.keys(header)) if ((header as Record<string, unknown>)[k] === undefined) delete (header as Record<string, unknown>)[k];
  return new SignJWT(payload).setProtectedHeader(header as never).sign(options.key ?? signer.key);
}

/** Pushes `request` (plus `form`) as `name`: client-one authenticates by assertion, client-two by its certificate. */
async function push(request: string | undefined, name: ClientName = 'client-one', form: Record<string, string> = {}): Promise<Response> {
  const auth = name === 'client-one' ? await h.assertionForm() : {};
  const res = await h.post('/par', { client_id: name, ...(request !== undefined ? { request } : {}), ...form, ...auth }, { client: name });
  statuses.push(res.status);
  return res;
}

function refused(t: Tap, res: Response, error: string, why: string) {
  t.equal(res.status, 400, `${why}: ${res.text}`);
  t.equal(res.json?.error, error, why);
  t.type(res.json?.error_description, 'string');
  t.equal(res.headers['cache-control'], 'no-store', `${why}: no-store`);
}

function accepted(t: Tap, res: Response, why: string) {
  t.equal(res.status, 201, `${why}: ${res.text}`);
  t.match(res.json?.request_uri, /^urn:ietf:params:oauth:request_uri:/);
}

async function stored(res: Response): Promise<PushedRequest | undefined> {
  return h.gateway.context.store.get<PushedRequest>('par', String(res.json.request_uri).slice(REQUEST_URI_PREFIX.length));
}

t.test('discovery advertises signed and encrypted request objects, and they are required', async (t) => {
  const res = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  const m = res.json;
  t.equal(m.request_parameter_supported, true);
  t.equal(m.require_signed_request_object, true);
  t.same(m.request_object_signing_alg_values_supported, ['PS256', 'ES256', 'EdDSA']);
  t.same(m.request_object_encryption_alg_values_supported, ['RSA-OAEP-256', 'ECDH-ES']);
  t.same(m.request_object_encryption_enc_values_supported, ['A256GCM']);
  t.equal(m.claims_parameter_supported, true);
  t.ok(m.claims_supported.includes('acr'));
  const jwks = (await h.get(`${h.issuer}/jwks`)).json;
  const enc = jwks.keys.filter((k: JWK) => k.use === 'enc');
  t.same(enc.map((k: JWK) => [k.kid, k.alg]), [['enc-rsa', 'RSA-OAEP-256'], ['enc-ec', 'ECDH-ES']], 'the encryption keys are published');
  t.notOk(enc.some((k: JWK) => 'd' in k), 'without private members');
});

t.test('dpop_jkt (RFC 9449 §10) binds the code from inside the request object; outside it is ignored', async (t) => {
  const inside = 'A'.repeat(43);
  const outside = 'B'.repeat(43);
  const bound = await push(await requestObject('client-one', { dpop_jkt: inside }), 'client-one', { dpop_jkt: outside });
  accepted(t, bound, 'dpop_jkt inside the object');
  t.equal((await stored(bound))?.request.dpopJkt, inside, 'the code is bound to the key named inside');
  const unbound = await push(await requestObject('client-one'), 'client-one', { dpop_jkt: outside });
  accepted(t, unbound, 'dpop_jkt only in the form');
  t.equal((await stored(unbound))?.request.dpopJkt, undefined, 'a form dpop_jkt beside a request object binds nothing');
  refused(t, await push(await requestObject('client-one', { dpop_jkt: 'not a thumbprint' })), 'invalid_request', 'a malformed dpop_jkt inside');
});

t.test('a signed request object is accepted, and only its parameters count', async (t) => {
  const object = await requestObject('client-one', { scope: 'openid accounts', state: 'inside', max_age: 600, claims: { id_token: { email: null } } });
  const res = await push(object, 'client-one', { scope: 'openid transactions', state: 'outside', redirect_uri: 'https://evil.example/cb', nonce: 'outside' });
  accepted(t, res, 'accepted');
  const pushed = await stored(res);
  t.equal(pushed?.request.scope, 'openid accounts', 'scope from the object');
  t.equal(pushed?.request.state, 'inside', 'state from the object');
  t.equal(pushed?.request.redirectUri, DEMO_REDIRECT_URI, 'redirect_uri from the object');
  t.not(pushed?.request.nonce, 'outside', 'nonce from the object');
  t.equal(pushed?.request.maxAge, 600, 'max_age as a number');
  t.same(pushed?.request.claims, { id_token: { email: null } }, 'claims as a JSON object');
});

t.test('a state only outside the request object is not used', async (t) => {
  const res = await push(await requestObject('client-one', { state: undefined }), 'client-one', { state: 'outside' });
  accepted(t, res, 'accepted');
  t.equal((await stored(res))?.request.state, undefined);
});

t.test('accepted forms of typ, aud and time', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  accepted(t, await push(await requestObject('client-one', {}, { header: { typ: 'OAuth-Authz-Req+JWT' } })), 'typ in any letter case');
  accepted(t, await push(await requestObject('client-one', {}, { header: { typ: 'JWT' } })), 'typ JWT');
  accepted(t, await push(await requestObject('client-one', {}, { header: { typ: undefined } })), 'no typ');
  accepted(t, await push(await requestObject('client-one', { aud: ['https://other.example', h.issuer] })), 'aud an array containing the issuer');
  accepted(t, await push(await requestObject('client-one', { nbf: now + 8, iat: now + 8 })), 'nbf and iat 8 s in the future');
  accepted(t, await push(await requestObject('client-one', { nbf: now - 3000, exp: now + 300 })), 'nbf 50 minutes ago, 55 minutes lifetime');
  accepted(t, await push(await requestObject('client-one', { jti: undefined })), 'no jti');
  accepted(t, await push(await requestObject('client-one', { client_id: undefined })), 'no client_id claim');
  accepted(t, await push(await requestObject('client-one'), 'client-one', { client_id: 'client-one' }), 'the form client_id the same');
});

t.test('every claim rule refuses with invalid_request_object', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, Record<string, unknown>][] = [
    ['no exp', { exp: undefined }],
    ['no nbf', { nbf: undefined }],
    ['expired', { exp: now - 60, nbf: now - 120 }],
    ['exp 70 minutes after nbf', { exp: now + 70 * 60 }],
    ['nbf 70 minutes ago', { nbf: now - 70 * 60, exp: now + 60 }],
    ['nbf 30 s in the future', { nbf: now + 30 }],
    ['iat 30 s in the future', { iat: now + 30 }],
    ['aud another server', { aud: 'https://other.example' }],
    ['aud an array without the issuer', { aud: ['https://other.example'] }],
    ['no aud', { aud: undefined }],
    ['iss another client', { iss: 'client-two' }],
    ['no iss', { iss: undefined }],
    ['client_id another client', { client_id: 'client-two' }],
    ['a request_uri inside', { request_uri: 'urn:ietf:params:oauth:request_uri:abc' }],
    ['a request inside', { request: 'eyJhbGciOiJub25lIn0.e30.' }],
    ['jti not a string', { jti: 42 }],
  ];
  for (const [why, overrides] of cases) refused(t, await push(await requestObject('client-one', overrides)), 'invalid_request_object', why);
});

t.test('signature and algorithm rules refuse with invalid_request_object', async (t) => {
  const good = await requestObject();
  const [header, payload] = good.split('.');
  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'oauth-authz-req+jwt' }))}.${payload}.`;
  refused(t, await push(none), 'invalid_request_object', 'alg none');
  const rsa = await generateKeyPair('RS256');
  refused(t, await push(await requestObject('client-one', {}, { alg: 'RS256', key: rsa.privateKey as CryptoKey })), 'invalid_request_object', 'RS256');
  const hs = `${base64url.encode(JSON.stringify({ alg: 'HS256' }))}.${payload}.c2ln`;
  refused(t, await push(hs), 'invalid_request_object', 'HS256');
  const tampered = `${header}.${payload}.${good.split('.')[2].slice(0, -4)}AAAA`;
  refused(t, await push(tampered), 'invalid_request_object', 'a bad signature');
  refused(t, await push(await requestObject('client-one', {}, { signer: 'client-two' })), 'invalid_request_object', "another client's key (its kid)");
  refused(t, await push(await requestObject('client-one', {}, { signer: 'client-two', header: { kid: undefined } })), 'invalid_request_object', "another client's key (no kid)");
  refused(t, await push(await requestObject('client-one', {}, { header: { kid: 'unknown' } })), 'invalid_request_object', 'an unknown kid');
  refused(t, await push(await requestObject('client-one', {}, { header: { typ: 'at+jwt' } })), 'invalid_request_object', 'another typ');
  refused(t, await push('not-a-jwt'), 'invalid_request_object', 'not a JWT');
  refused(t, await push(`${base64url.encode('{"alg":"ES256"}')}.${base64url.encode('[1,2]')}.c2ln`), 'invalid_request_object', 'a payload that is not an object');
});

t.test('an unsigned pushed request is refused with invalid_request', async (t) => {
  const { challenge } = pkce();
  const form = { response_type: 'code', redirect_uri: DEMO_REDIRECT_URI, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' };
  refused(t, await push(undefined, 'client-one', form), 'invalid_request', 'private_key_jwt client');
  refused(t, await push(undefined, 'client-two', form), 'invalid_request', 'tls_client_auth client');
  refused(t, await push(await requestObject(), 'client-one', { request_uri: 'urn:ietf:params:oauth:request_uri:x' }), 'invalid_request', 'request_uri next to request');
});

t.test('the parameters inside are validated as a form would be', async (t) => {
  refused(t, await push(await requestObject('client-one', { redirect_uri: undefined })), 'invalid_request', 'no redirect_uri');
  refused(t, await push(await requestObject('client-one', { code_challenge: undefined })), 'invalid_request', 'no PKCE');
  refused(t, await push(await requestObject('client-one', { scope: 'openid payments' })), 'invalid_scope', 'a scope not allowed');
  refused(t, await push(await requestObject('client-one', { max_age: -1 })), 'invalid_request', 'a negative max_age');
  refused(t, await push(await requestObject('client-one', { claims: { id_token: { acr: { value: 7 } } } })), 'invalid_request', 'acr value not a string');
});

t.test("a request object's jti is used once", async (t) => {
  const object = await requestObject('client-one');
  accepted(t, await push(object), 'first use');
  refused(t, await push(object), 'invalid_request_object', 'replayed');
  // Another client may use the same jti: the cache is per client.
  const jti = randomUUID();
  accepted(t, await push(await requestObject('client-one', { jti })), 'client-one with a jti');
  accepted(t, await push(await requestObject('client-two', { jti }), 'client-two'), 'client-two with the same jti');
  t.ok(h.logs.some((line) => line.includes('"audit":"request_object_replayed"')), 'the replay is an audit event');
  t.ok(h.logs.some((line) => line.includes('"audit":"request_object_refused"') && line.includes('"reason":"expired"')), 'refusals are audit events with their reason');
});

async function encrypt(jws: string | Uint8Array, kid: string, alg: string, enc = 'A256GCM'): Promise<string> {
  const jwk = serverEncryptionKeys.find((k) => k.kid === kid)!;
  const { d: _d, ...publicJwk } = jwk;
  const key = await importJWK(publicJwk, alg === 'dir' ? 'RSA-OAEP-256' : alg);
  const plaintext = typeof jws === 'string' ? new TextEncoder().encode(jws) : jws;
  return new CompactEncrypt(plaintext).setProtectedHeader({ alg, enc, kid, cty: 'JWT' }).encrypt(key);
}

t.test('encrypted request objects: RSA-OAEP-256 and ECDH-ES around a signed one', async (t) => {
  for (const [kid, alg] of [['enc-rsa', 'RSA-OAEP-256'], ['enc-ec', 'ECDH-ES']]) {
    const res = await push(await encrypt(await requestObject('client-one', { state: `encrypted-${alg}` }), kid, alg));
    accepted(t, res, alg);
    t.equal((await stored(res))?.request.state, `encrypted-${alg}`);
  }
  const plain = new TextEncoder().encode(JSON.stringify(claimsFor('client-one')));
  refused(t, await push(await encrypt(plain, 'enc-rsa', 'RSA-OAEP-256')), 'invalid_request_object', 'a JWE without a signed JWT inside');
  refused(t, await push(await encrypt(await requestObject(), 'enc-rsa', 'RSA-OAEP-256', 'A128GCM')), 'invalid_request_object', 'enc not allowed');
  const unsigned = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${base64url.encode(JSON.stringify(claimsFor('client-one')))}.`;
  refused(t, await push(await encrypt(unsigned, 'enc-rsa', 'RSA-OAEP-256')), 'invalid_request_object', 'a JWE around an unsigned JWT');
  const jwe = await encrypt(await requestObject(), 'enc-rsa', 'RSA-OAEP-256');
  const parts = jwe.split('.');
  parts[3] = parts[3].slice(0, -2) + (parts[3].endsWith('AA') ? 'BB' : 'AA');
  refused(t, await push(parts.join('.')), 'invalid_request_object', 'a tampered JWE');
  const [, ...rest] = jwe.split('.');
  const otherKid = `${base64url.encode(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'nope' }))}.${rest.join('.')}`;
  refused(t, await push(otherKid), 'invalid_request_object', 'an unknown encryption kid');
});

t.test('metrics count request objects by outcome', async (t) => {
  const text = await h.gateway.context.metrics!.registry.metrics();
  t.match(text, /fapi_gateway_request_objects_total\{outcome="accepted"\} \d+/);
  t.match(text, /fapi_gateway_request_objects_total\{outcome="replayed"\} 1/);
  t.match(text, /fapi_gateway_request_objects_total\{outcome="bad_signature"\} \d+/);
  t.match(text, /fapi_gateway_request_objects_total\{outcome="unsigned_refused"\} \d+/);
});

t.test('a whole flow with our own request object, as each client', async (t) => {
  for (const name of ['client-one', 'client-two'] as const) {
    const { verifier, challenge } = pkce();
    const claims = claimsFor(name, challenge);
    const res = await push(await requestObject(name, claims), name);
    accepted(t, res, name);
    const pushed = { requestUri: res.json.request_uri, verifier, state: claims.state as string, nonce: claims.nonce as string, form: { redirect_uri: DEMO_REDIRECT_URI } };
    const callback = await authorize(h, pushed, { client: name });
    t.equal(callback.searchParams.get('state'), claims.state);
    const tokens = await redeem(h, callback.searchParams.get('code')!, pushed, name);
    t.equal(tokens.status, 200, tokens.text);
  }
});

function fetchOver(agent: Agent): client.CustomFetch {
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as ReturnType<client.CustomFetch>;
}

for (const name of ['client-one', 'client-two'] as const) {
  t.test(`openid-client as ${name}: JAR at PAR, then the code grant`, async (t) => {
    const auth = name === 'client-one' ? await privateKeyJwt(h.pki, name) : client.TlsClientAuth();
    const config = await client.discovery(new URL(h.issuer), name, { use_mtls_endpoint_aliases: true }, auth, { [client.customFetch]: fetchOver(h.agent(name)) });
    t.equal(config.serverMetadata().require_signed_request_object, true);
    const { key, kid } = await clientKey(name);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const jar = await client.buildAuthorizationUrlWithJAR(
      config,
      {
        redirect_uri: DEMO_REDIRECT_URI,
        scope: 'openid profile accounts',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
        max_age: '3600',
      },
      { key, kid },
    );
    t.ok(jar.searchParams.get('request'), 'the library signed a request object');
    const url = await client.buildAuthorizationUrlWithPAR(config, jar.searchParams);
    t.same([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    const callback = await authorizeAt(h, url.href);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, maxAge: 3600 });
    t.equal(tokens.claims()?.sub, 'alice-7f3c', 'an ID token the library validated');
    // The same request object again: its jti is spent.
    await t.rejects(client.buildAuthorizationUrlWithPAR(config, jar.searchParams), { error: 'invalid_request_object' } as never, 'replay refused');
  });
}

t.test('no 5xx on any of the above', async (t) => {
  t.notOk(statuses.some((s) => s >= 500), `statuses: ${[...new Set(statuses)].join(', ')}`);
});
