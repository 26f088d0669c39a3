/**
 * FAPI 1.0 Advanced (final) request handling as profile settings (`authorizationRequest:`), on a
 * profile that extends fapi2-message-signing: every rule that refuses a pushed request (request
 * object without exp or nbf, exp too far after nbf, scope/redirect_uri/nonce only outside the
 * object, no nonce in the hybrid flow, plain `code` where JARM is required, the hybrid flow in the
 * query), the client and policy checks at start, and the hybrid `code id_token` flow end to end
 * with openid-client (JAR at PAR, the fragment, the encrypted ID token decrypted and its c_hash and
 * s_hash checked by the library) and, part by part, with jose.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import * as client from 'openid-client';
import { compactDecrypt, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK } from 'jose';
import { fetch as undiciFetch, type Agent } from 'undici';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { fapi1AdvancedProfile, loadProfile } from '../src/config/profile.js';
import { ConfigError } from '../src/config/config-error.js';
import { validateClientMetadata } from '../src/clients/client-metadata.js';
import { authorizationUrl, authorizeAt, pkce, redeem } from './helpers/flow.js';
import { startGateway, type ClientName, type Harness, type Response } from './helpers/harness.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { signedRequestObject } from './helpers/request-objects.js';

const FAPI1_PROFILE = `extends: fapi2-message-signing
name: fapi1-hybrid-test
clientAssertion:
  audienceArray: true
responseModes: [query, jwt, query.jwt, fragment]
authorizationRequest:
  responseTypes: [code id_token, code]
  codeRequiresJarm: true
  requestObjectClaims: [scope, redirect_uri, nonce]
  idTokenEncryption: required
`;

let h: Harness;
let dir: string;
let profileFile: string;
const encryptionKeys: Partial<Record<ClientName, CryptoKey>> = {};

t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi1-profile-'));
  profileFile = path.join(dir, 'fapi1-hybrid-test.yaml');
  await writeFile(profileFile, FAPI1_PROFILE);
  const publicEnc: Partial<Record<ClientName, JWK>> = {};
  for (const name of ['client-one', 'client-two'] as const) {
    const { privateKey, publicKey } = await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 });
    encryptionKeys[name] = privateKey as CryptoKey;
    publicEnc[name] = { ...(await exportJWK(publicKey)), kid: `${name}-enc`, alg: 'RSA-OAEP', use: 'enc' };
  }
  h = await startGateway({
    configure(config) {
      config.profile = profileFile;
      for (const c of config.clients) {
        c.jwks.keys.push(publicEnc[c.client_id as ClientName]);
        Object.assign(c, { id_token_encrypted_response_alg: 'RSA-OAEP', id_token_encrypted_response_enc: 'A256GCM', require_signed_request_object: true });
      }
      // client-one may use both response types; client-two registered only code (with JARM).
      config.clients[0].response_types = ['code id_token', 'code'];
      config.clients[1].response_types = ['code'];
    },
  });
});
t.teardown(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

async function signingKey(name: ClientName): Promise<{ key: CryptoKey; kid: string; alg: string }> {
  const jwk = JSON.parse(await readFile(h.pki.clients[name].jwk, 'utf8')) as JWK;
  return { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid!, alg: jwk.alg! };
}

/** A signed hybrid request object for client-one with `overrides` (undefined removes a claim). */
function requestObject(overrides: Record<string, unknown> = {}, name: ClientName = 'client-one'): Promise<string> {
  return signedRequestObject(h, name, { response_type: 'code id_token', ...overrides });
}

async function par(request: string, form: Record<string, string> = {}, name: ClientName = 'client-one'): Promise<Response> {
  const auth = name === 'client-one' ? await h.assertionForm() : {};
  return h.post('/par', { client_id: name, request, ...form, ...auth }, { client: name });
}

/** The promise fails with a ConfigError naming `keyPath`. */
async function failsAt(t: Test, promise: Promise<unknown>, keyPath: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof ConfigError, `${keyPath}: a ConfigError`);
  t.equal((err as ConfigError | undefined)?.keyPath, keyPath, `names ${keyPath}`);
}

function refused(t: Test, res: Response, error: string, why: string): void {
  t.equal(res.status, 400, `${why}: ${res.text}`);
  t.equal(res.json?.error, error, why);
  t.type(res.json?.error_description, 'string');
  t.equal(res.headers['cache-control'], 'no-store', `${why}: no-store`);
}

t.test('discovery offers the hybrid response type in the fragment, and the ID token encryption', async (t) => {
  const m = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.same(m.response_types_supported, ['code id_token', 'code']);
  t.ok(m.response_modes_supported.includes('fragment'));
  t.ok(m.id_token_encryption_alg_values_supported.includes('RSA-OAEP'));
  t.equal(m.require_signed_request_object, true);
});

t.test('request object lifetime: exp and nbf required, exp at most 60 minutes after nbf', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  refused(t, await par(await requestObject({ exp: undefined })), 'invalid_request_object', 'no exp');
  refused(t, await par(await requestObject({ nbf: undefined })), 'invalid_request_object', 'no nbf');
  refused(t, await par(await requestObject({ nbf: now, exp: now + 3601 })), 'invalid_request_object', 'exp 60 min + 1 s after nbf');
  refused(t, await par(await requestObject({ nbf: now - 3700, exp: now + 60 })), 'invalid_request_object', 'nbf more than 60 minutes old');
  t.equal((await par(await requestObject({ nbf: now - 10, exp: now - 10 + 3600 }))).status, 201, 'exactly 60 minutes is accepted');
});

t.test('scope, redirect_uri and nonce must be inside the request object; the form does not count', async (t) => {
  const form = { scope: 'openid accounts', redirect_uri: DEMO_REDIRECT_URI, nonce: 'outside' };
  for (const name of ['scope', 'redirect_uri', 'nonce']) {
    const res = await par(await requestObject({ [name]: undefined }), form);
    refused(t, res, 'invalid_request_object', `${name} only on the form`);
    t.match(res.json.error_description, name);
  }
  // With JARM (no ID token from the authorization endpoint), nonce is still required with scope openid.
  refused(t, await par(await requestObject({ response_type: 'code', response_mode: 'jwt', nonce: undefined })), 'invalid_request_object', 'JARM with openid and no nonce');
});

t.test('the hybrid flow: nonce and scope openid required, the fragment only, only for clients that registered it', async (t) => {
  // nonce is not among the profile's request object claims here: the hybrid response type itself requires it.
  const profile = await loadProfile(profileFile, { authorizationRequest: { requestObjectClaims: ['scope', 'redirect_uri', 'nonce', 'state'] } });
  t.same(profile.authorizationRequest?.requestObjectClaims, ['scope', 'redirect_uri', 'nonce', 'state'], 'a policy may add required claims');
  refused(t, await par(await requestObject({ nonce: '' })), 'invalid_request_object', 'an empty nonce');
  refused(t, await par(await requestObject({ scope: 'accounts', nonce: undefined })), 'invalid_request', 'hybrid without openid (and so without nonce)');
  refused(t, await par(await requestObject({ scope: 'accounts' })), 'invalid_request', 'hybrid without openid');
  refused(t, await par(await requestObject({ response_mode: 'query' })), 'invalid_request', 'hybrid in the query');
  refused(t, await par(await requestObject({ response_mode: 'jwt' })), 'invalid_request', 'hybrid with JARM (fragment.jwt is not offered)');
  refused(t, await par(await requestObject({ response_type: 'code token' })), 'unsupported_response_type', 'code token is not offered');
  refused(t, await par(await requestObject({}, 'client-two'), {}, 'client-two'), 'unauthorized_client', 'client-two did not register code id_token');
  t.equal((await par(await requestObject({ response_type: 'id_token code' }))).status, 201, 'the order of the values does not matter');
});

t.test('plain response_type=code is refused where the profile requires JARM; code with JARM is accepted', async (t) => {
  const res = await par(await requestObject({ response_type: 'code' }));
  refused(t, res, 'invalid_request', 'code without response_mode');
  t.match(res.json.error_description, /jwt/);
  refused(t, await par(await requestObject({ response_type: 'code', response_mode: 'query' })), 'invalid_request', 'code with response_mode=query');
  t.equal((await par(await requestObject({ response_type: 'code', response_mode: 'jwt' }, 'client-two'), {}, 'client-two')).status, 201, 'code with JARM');
});

t.test('RFC 7523 §3 where the profile says so: a client assertion aud may be an array that contains the issuer', async (t) => {
  const form = { client_id: 'client-one', request: await requestObject() };
  const withArray = await h.post('/par', { ...form, ...(await h.assertionForm({ aud: [h.issuer, 'https://elsewhere.example'] })) }, { client: 'client-one' });
  t.equal(withArray.status, 201, withArray.text);
  const without = await h.post('/par', { ...form, request: await requestObject(), ...(await h.assertionForm({ aud: ['https://elsewhere.example'] })) }, { client: 'client-one' });
  t.equal(without.status, 401, `an array without the issuer: ${without.text}`);
  t.equal(without.json?.error, 'invalid_client');
  const profile = await loadProfile('fapi2', undefined);
  t.equal(profile.clientAssertion.audienceArray, undefined, 'FAPI 2.0 profiles keep the single string');
});

/** The base64url left half of the SHA-256 of `value` (OIDC Core §3.3.2.11, for PS256/ES256). */
const leftHalf = (value: string) => createHash('sha256').update(value).digest().subarray(0, 16).toString('base64url');

t.test('hybrid flow, by hand: the fragment carries code, state, iss and an encrypted ID token with c_hash, s_hash and nonce', async (t) => {
  const { verifier, challenge } = pkce();
  const state = `state-${randomUUID()}`;
  const nonce = `nonce-${randomUUID()}`;
  const res = await par(await requestObject({ code_challenge: challenge, state, nonce }));
  t.equal(res.status, 201, res.text);
  const callback = await authorizeAt(h, authorizationUrl('client-one', res.json.request_uri));
  t.equal(callback.search, '', 'nothing in the query');
  const params = new URLSearchParams(callback.hash.slice(1));
  t.same([...params.keys()].sort(), ['code', 'id_token', 'iss', 'state']);
  t.equal(params.get('state'), state);
  const jwe = params.get('id_token')!;
  t.equal(jwe.split('.').length, 5, 'the ID token is a JWE');
  const header = decodeProtectedHeader(jwe);
  t.match(header, { alg: 'RSA-OAEP', enc: 'A256GCM', kid: 'client-one-enc', cty: 'JWT' });
  const inner = new TextDecoder().decode((await compactDecrypt(jwe, encryptionKeys['client-one']!)).plaintext);
  const jwks = createLocalJWKSet((await h.get(`${h.issuer}/jwks`)).json);
  const { payload, protectedHeader } = await jwtVerify(inner, jwks, { issuer: h.issuer, audience: 'client-one' });
  t.equal(protectedHeader.alg === 'PS256' || protectedHeader.alg === 'ES256', true, 'a SHA-256 algorithm (the hashes below are SHA-256)');
  t.equal(payload.c_hash, leftHalf(params.get('code')!), 'c_hash');
  t.equal(payload.s_hash, leftHalf(state), 's_hash');
  t.equal(payload.nonce, nonce, 'nonce');
  t.equal(payload.sub, 'alice-7f3c');

  const tokens = await redeem(h, params.get('code')!, { requestUri: '', verifier, form: { redirect_uri: DEMO_REDIRECT_URI } });
  t.equal(tokens.status, 200, tokens.text);
  t.equal(tokens.json.id_token.split('.').length, 5, 'the token endpoint ID token is encrypted too');
});

t.test('hybrid flow errors go to the fragment: the user cancels', async (t) => {
  const state = `state-${randomUUID()}`;
  const res = await par(await requestObject({ state }));
  const callback = await authorizeAt(h, authorizationUrl('client-one', res.json.request_uri), { decision: 'deny' });
  t.equal(callback.search, '');
  const params = new URLSearchParams(callback.hash.slice(1));
  t.equal(params.get('error'), 'access_denied');
  t.equal(params.get('state'), state);
  t.notOk(params.has('code') || params.has('id_token'));
});

function fetchOver(agent: Agent): client.CustomFetch {
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response & globalThis.Response>;
}

t.test('hybrid flow with openid-client: JAR at PAR, the fragment, the encrypted ID token decrypted and its hashes checked', async (t) => {
  const config = await client.discovery(new URL(h.issuer), 'client-one', { use_mtls_endpoint_aliases: true }, await privateKeyJwt(h.pki, 'client-one'), {
    [client.customFetch]: fetchOver(h.agent('client-one')),
  });
  client.useCodeIdTokenResponseType(config);
  client.enableDecryptingResponses(config, ['A256GCM'], { key: encryptionKeys['client-one']!, alg: 'RSA-OAEP', kid: 'client-one-enc' });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const { key, kid } = await signingKey('client-one');
  const jar = await client.buildAuthorizationUrlWithJAR(config, {
    redirect_uri: DEMO_REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }, { key, kid });
  const url = await client.buildAuthorizationUrlWithPAR(config, jar.searchParams);
  const callback = await authorizeAt(h, url.href);
  t.ok(callback.hash.includes('id_token='), 'the response is in the fragment');

  // A tampered code no longer matches the ID token's c_hash: the library's check is really on.
  const tampered = new URL(callback);
  const fragment = new URLSearchParams(tampered.hash.slice(1));
  fragment.set('code', `${fragment.get('code')}x`);
  tampered.hash = fragment.toString();
  await t.rejects(client.authorizationCodeGrant(config, tampered, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }), 'a code that does not match c_hash is refused');

  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  t.equal(tokens.claims()?.sub, 'alice-7f3c', 'the hybrid response redeems to tokens');
  t.equal(tokens.claims()?.nonce, nonce);
  t.type(tokens.access_token, 'string');
});

t.test('at start: a client of a profile requiring encrypted ID tokens registers them; response types only as offered', async (t) => {
  const profile = await loadProfile(profileFile, undefined);
  const signing = JSON.parse(await readFile(h.pki.clients['client-one'].jwk, 'utf8')) as JWK;
  delete signing.d;
  const base = {
    client_id: 'c',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [signing] },
    redirect_uris: [DEMO_REDIRECT_URI],
    scope: 'openid',
    grant_types: ['authorization_code'],
  };
  await failsAt(t, validateClientMetadata(base, profile, 'clients[0]'), 'clients[0].id_token_encrypted_response_alg');
  const ccOnly = await validateClientMetadata({ ...base, grant_types: ['client_credentials'], redirect_uris: [] }, profile, 'clients[0]');
  t.ok(ccOnly, 'a client_credentials client needs no ID token encryption');
  const fapi2 = await loadProfile('fapi2', undefined);
  await failsAt(t, validateClientMetadata({ ...base, response_types: ['code id_token'] }, fapi2, 'clients[0]'), 'clients[0].response_types[0]');
});

t.test('profile extends and policy: a cycle or unknown base fails at start; a policy may not loosen the FAPI 1.0 rules', async (t) => {
  const write = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  };
  await t.rejects(loadProfile(await write('unknown.yaml', 'extends: no-such-profile\nname: x\n'), undefined), /no-such-profile/);
  await failsAt(t, loadProfile(await write('bad.yaml', 'extends: ../fapi2\nname: x\n'), undefined), 'bad.yaml.extends');
  await failsAt(t, loadProfile(await write('loop.yaml', 'extends: loop\nname: loop\n'), undefined), 'profile');
  const policyFails = (policy: Record<string, unknown>, at: string) =>
    failsAt(t, loadProfile(profileFile, policy), at);
  await policyFails({ authorizationRequest: { requestObjectClaims: ['scope'] } }, 'policy.authorizationRequest.requestObjectClaims');
  await policyFails({ authorizationRequest: { codeRequiresJarm: false } }, 'policy.authorizationRequest.codeRequiresJarm');
  await policyFails({ authorizationRequest: { idTokenEncryption: 'optional' } }, 'policy.authorizationRequest.idTokenEncryption');
  await failsAt(t, loadProfile('fapi2', { authorizationRequest: { responseTypes: ['code id_token'] } }), 'policy.authorizationRequest');
  const narrowed = await loadProfile(profileFile, { authorizationRequest: { responseTypes: ['code id_token'] } });
  t.same(narrowed.authorizationRequest?.responseTypes, ['code id_token'], 'a policy may offer fewer response types');
});

t.test('profiles cdr and brazil: FAPI 2.0 for every client, FAPI 1.0 Advanced rules for the clients that registered the FAPI 1.0 way', async (t) => {
  const [cdr, brazil] = await Promise.all(['cdr', 'brazil'].map((n) => loadProfile(n, undefined)));
  t.equal(cdr.authorizationRequest, undefined, 'cdr: FAPI 2.0 for its own clients');
  t.equal(brazil.authorizationRequest, undefined, 'brazil: FAPI 2.0 for its own clients');
  const cdrFapi1 = fapi1AdvancedProfile(cdr);
  t.same(cdrFapi1.responseModes, ['jwt', 'query.jwt']);
  t.equal(cdrFapi1.authorizationRequest?.codeRequiresJarm, true);
  t.same(cdrFapi1.clientAssertion.parAudience, ['issuer', 'token_endpoint', 'endpoint']);
  t.same(cdrFapi1.lifetimes, cdr.lifetimes, 'everything else is cdr\'s');
  t.equal(cdrFapi1.ecosystem, 'cdr');
  const brazilFapi1 = fapi1AdvancedProfile(brazil);
  t.same(brazilFapi1.authorizationRequest?.responseTypes, ['code id_token']);
  t.equal(brazilFapi1.authorizationRequest?.idTokenEncryption, 'required');
  t.same(brazilFapi1.algorithms, brazil.algorithms, 'PS256 and RSA-OAEP/A256GCM as brazil');
  t.equal(brazilFapi1.requestObject, 'required');
  const fapi2 = await loadProfile('fapi2', undefined);
  t.equal(fapi1AdvancedProfile(fapi2), fapi2, 'fapi2 has no FAPI 1.0 rules: every client is held to the profile itself');
});
