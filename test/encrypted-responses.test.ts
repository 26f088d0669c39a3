/**
 * Responses encrypted to the client (OpenID Connect Registration §2, JARM §2.2): a client that
 * registered `*_encrypted_response_alg` gets its JARM response, ID token and userinfo signed, then
 * encrypted to its `use: enc` key (the one that fits the algorithm, named by `kid` in the JWE
 * header); `userinfo_signed_response_alg` answers userinfo as a signed JWT. Decrypted by
 * openid-client and, part by part, with jose.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import * as client from 'openid-client';
import {
  compactDecrypt,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtDecrypt,
  jwtVerify,
  type JWK,
} from 'jose';
import { Agent, fetch as undiciFetch, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { parForm, startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, authorizeAt, fullFlow, pkce, userinfo } from './helpers/flow.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { derivedProfile } from './helpers/derived-profile.js';

const REDIRECT_URI = 'https://client.localhost/callback';

let h: Harness;
let jwksServer: Server;
let previousDispatcher: Dispatcher;
const keys: Record<string, { privateKey: CryptoKey; publicJwk: JWK }> = {};

async function encKey(kid: string, alg: string, options: { modulusLength?: number; crv?: string } = {}) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  keys[kid] = { privateKey: privateKey as CryptoKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'enc' } };
  return keys[kid].publicJwk;
}

t.before(async () => {
  const profile = await derivedProfile();
  // Two RSA keys for client-one: the one named for RSA-OAEP-256 must be chosen, though listed second.
  const oaep = await encKey('c1-enc-oaep', 'RSA-OAEP');
  const oaep256 = await encKey('c1-enc-oaep256', 'RSA-OAEP-256');
  const ec = await encKey('c2-enc', 'ECDH-ES', { crv: 'P-256' });
  const remoteEnc = await encKey('remote-enc', 'RSA-OAEP-256');

  const { pki } = await (await import('./helpers/harness.js')).testPki();
  const signingJwk = JSON.parse(await readFile(pki.clients['client-one'].jwk, 'utf8'));
  delete signingJwk.d;
  // A client registered by jwks_uri: its document carries the signing key and, at /with-enc, an encryption key.
  jwksServer = createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, (req, res) => {
    const body = { keys: req.url === '/with-enc.json' ? [signingJwk, remoteEnc] : [signingJwk] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const base = `https://localhost:${(jwksServer.address() as AddressInfo).port}`;
  // jose fetches jwks_uri with the global fetch: trust the test CA for it.
  previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: await readFile(pki.ca) } }));

  h = await startGateway({
    configure: (config) => {
      config.profile = profile;
      const [one, two] = config.clients;
      one.jwks.keys.push(oaep, oaep256);
      Object.assign(one, {
        authorization_encrypted_response_alg: 'RSA-OAEP-256',
        authorization_encrypted_response_enc: 'A256GCM',
        id_token_encrypted_response_alg: 'RSA-OAEP-256',
        id_token_encrypted_response_enc: 'A256GCM',
        userinfo_signed_response_alg: 'PS256',
        userinfo_encrypted_response_alg: 'RSA-OAEP-256',
        userinfo_encrypted_response_enc: 'A128GCM',
      });
      two.jwks.keys.push(ec);
      Object.assign(two, {
        id_token_encrypted_response_alg: 'ECDH-ES',
        id_token_encrypted_response_enc: 'A128GCM',
        // Encryption without a signature: the claims as an encrypted JWT.
        userinfo_encrypted_response_alg: 'ECDH-ES',
        userinfo_encrypted_response_enc: 'A128GCM',
      });
      const remote = { ...one, jwks: undefined, client_id: 'client-remote', jwks_uri: `${base}/with-enc.json` };
      delete remote.jwks;
      for (const key of Object.keys(remote)) if (key.startsWith('authorization_') || key.startsWith('userinfo_')) delete remote[key];
      config.clients.push(remote, { ...remote, client_id: 'client-remote-no-enc', jwks_uri: `${base}/sig-only.json` });
      const { id_token_encrypted_response_alg: _alg, id_token_encrypted_response_enc: _enc, ...plainIdToken } = remote;
      config.clients.push({
        ...plainIdToken, client_id: 'client-remote-jarm-no-enc', jwks_uri: `${base}/sig-only.json`,
        authorization_encrypted_response_alg: 'RSA-OAEP-256', authorization_encrypted_response_enc: 'A256GCM',
      });
    },
  });
});
t.teardown(async () => {
  await h?.close();
  jwksServer?.close();
  if (previousDispatcher) setGlobalDispatcher(previousDispatcher);
});

async function serverKeys() {
  return createLocalJWKSet((await h.get(`${h.issuer}/jwks`)).json as never);
}

/** Decrypts a nested JWT with `kid`'s key, checks its JWE header, and verifies the inner JWS with the server's keys. */
async function openNested(t: Test, jwe: string, kid: string, enc: string, audience: string) {
  const header = decodeProtectedHeader(jwe);
  t.equal(jwe.split('.').length, 5, 'a JWE');
  t.equal(header.kid, kid, 'the JWE header names the client key');
  t.equal(header.alg, keys[kid].publicJwk.alg);
  t.equal(header.enc, enc);
  t.equal(header.cty, 'JWT', 'nested: signed, then encrypted');
  const { plaintext } = await compactDecrypt(jwe, keys[kid].privateKey);
  const { payload } = await jwtVerify(new TextDecoder().decode(plaintext), await serverKeys(), { issuer: h.issuer, audience });
  return payload;
}

t.test('client-one (private_key_jwt) with openid-client: encrypted JARM, ID token and userinfo decrypted by the library', async (t) => {
  const auth = await privateKeyJwt(h.pki, 'client-one');
  const config = await client.discovery(new URL(h.issuer), 'client-one', { use_mtls_endpoint_aliases: true }, auth, {
    [client.customFetch]: ((url, options) => undiciFetch(url, { ...options, dispatcher: h.agent('client-one') } as never)) as client.CustomFetch,
  });
  client.useJwtResponseMode(config);
  client.enableDecryptingResponses(config, ['A256GCM', 'A128GCM'], { key: keys['c1-enc-oaep256'].privateKey, kid: 'c1-enc-oaep256', alg: 'RSA-OAEP-256' } as never);
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
  t.same([...callback.searchParams.keys()], ['response']);
  const jarm = await openNested(t, callback.searchParams.get('response')!, 'c1-enc-oaep256', 'A256GCM', 'client-one');
  t.equal(jarm.state, state, 'the JARM response decrypts to the signed response');

  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  t.equal(tokens.claims()?.sub, 'alice-7f3c', 'the library decrypted and validated the ID token');
  t.equal(tokens.claims()?.nonce, nonce);
  const info = await client.fetchUserInfo(config, tokens.access_token, 'alice-7f3c');
  t.equal(info.name, 'Alice Example', 'userinfo signed and encrypted, read by the library');
});

t.test('client-one: the encrypted ID token and userinfo, part by part', async (t) => {
  const { tokens } = await fullFlow(h, 'client-one', { scope: 'openid profile' });
  const idToken = await openNested(t, tokens.id_token, 'c1-enc-oaep256', 'A256GCM', 'client-one');
  t.equal(idToken.sub, 'alice-7f3c');
  const res = await userinfo(h, tokens.access_token, 'client-one');
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /^application\/jwt/);
  t.equal(res.headers['cache-control'], 'no-store');
  const claims = await openNested(t, res.text, 'c1-enc-oaep256', 'A128GCM', 'client-one');
  t.equal(claims.sub, 'alice-7f3c');
  t.equal(claims.name, 'Alice Example');
});

t.test('client-two (tls_client_auth): ID token to its EC key (ECDH-ES); userinfo encrypted without a signature', async (t) => {
  const { tokens } = await fullFlow(h, 'client-two', { scope: 'openid profile' });
  const idToken = await openNested(t, tokens.id_token, 'c2-enc', 'A128GCM', 'client-two');
  t.equal(idToken.aud, 'client-two');
  const res = await userinfo(h, tokens.access_token, 'client-two');
  t.match(res.headers['content-type'], /^application\/jwt/);
  const header = decodeProtectedHeader(res.text);
  t.same({ alg: header.alg, enc: header.enc, kid: header.kid, cty: header.cty }, { alg: 'ECDH-ES', enc: 'A128GCM', kid: 'c2-enc', cty: undefined }, 'claims encrypted directly');
  const { payload } = await jwtDecrypt(res.text, keys['c2-enc'].privateKey, { issuer: h.issuer, audience: 'client-two' });
  t.equal(payload.sub, 'alice-7f3c');
  t.equal(payload.name, 'Alice Example');
});

/** PAR → login → consent → token for a client registered by jwks_uri (client-one's key and certificate). */
async function remoteFlow(clientId: string) {
  const { verifier, challenge } = pkce();
  const assertion = async (aud?: string) => ({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await h.assertion({ iss: clientId, sub: clientId, ...(aud ? { aud } : {}) }),
  });
  const pushed = await h.post('/par', { ...parForm({ client_id: clientId, code_challenge: challenge, scope: 'openid' }), ...(await assertion()) });
  if (pushed.status !== 201) throw new Error(`PAR: ${pushed.status} ${pushed.text}`);
  const callback = await authorizeAt(h, authorizationUrl(clientId, pushed.json.request_uri));
  return h.post('/token', {
    grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: clientId, ...(await assertion()),
  });
}

t.test('a client registered by jwks_uri: its encryption key comes from the same document', async (t) => {
  const res = await remoteFlow('client-remote');
  t.equal(res.status, 200, res.text);
  const idToken = await openNested(t, res.json.id_token, 'remote-enc', 'A256GCM', 'client-remote');
  t.equal(idToken.sub, 'alice-7f3c');
});

t.test('a jwks_uri without an encryption key: a clear invalid_request, nothing sent in the clear, an audit event', async (t) => {
  const res = await remoteFlow('client-remote-no-enc');
  t.equal(res.status, 400);
  t.equal(res.json?.error, 'invalid_request');
  t.match(res.json?.error_description, /the id token cannot be encrypted to the client: the client's jwks_uri has no "use": "enc" key for RSA-OAEP-256/);
  t.notOk(res.json?.id_token ?? res.json?.access_token, 'no tokens');
  t.equal(res.headers['cache-control'], 'no-store');
  t.ok(h.logs.some((line) => line.includes('"audit":"response_encryption_failed"')), 'audit event');
  const metrics = await h.gateway.context.metrics!.registry.metrics();
  t.match(metrics, /fapi_gateway_encrypted_responses_total\{what="id_token",outcome="failed"\} 1/);
  t.match(metrics, /fapi_gateway_encrypted_responses_total\{what="id_token",outcome="encrypted"\} [1-9]/);
  t.match(metrics, /fapi_gateway_encrypted_responses_total\{what="authorization_response",outcome="encrypted"\} [1-9]/);
  t.match(metrics, /fapi_gateway_encrypted_responses_total\{what="userinfo",outcome="encrypted"\} [1-9]/);
});

t.test('encrypted JARM for a jwks_uri without an encryption key: an error page, no redirect', async (t) => {
  const clientId = 'client-remote-jarm-no-enc';
  const { challenge } = pkce();
  const pushed = await h.post('/par', {
    ...parForm({ client_id: clientId, code_challenge: challenge, scope: 'openid', response_mode: 'jwt' }),
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await h.assertion({ iss: clientId, sub: clientId }),
  });
  t.equal(pushed.status, 201);
  await t.rejects(authorizeAt(h, authorizationUrl(clientId, pushed.json.request_uri)), /consent failed: 400 /, 'an error page: the response is not sent in the clear');
  const metrics = await h.gateway.context.metrics!.registry.metrics();
  t.match(metrics, /fapi_gateway_encrypted_responses_total\{what="authorization_response",outcome="failed"\} 1/);
  t.ok(h.logs.some((line) => line.includes('"audit":"response_encryption_failed"') && line.includes(clientId) && line.includes('the authorization response cannot be encrypted')), 'audit event naming the client and why');
});
