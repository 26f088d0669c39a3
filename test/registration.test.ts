/**
 * Dynamic client registration (RFC 7591) and management (RFC 7592) against a gateway process, with a
 * fake directory and third-party key endpoints over real HTTPS on loopback: registration by
 * openid-client, by software statement, by signed request; a registered client's whole flow and
 * resource call; every refusal with its RFC code; update, delete and what a deletion ends.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import * as client from 'openid-client';
import { SignJWT } from 'jose';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { testConfig, testPki, readResponse, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaHarness, opsGet, type ReplicaHarness } from './helpers/replicas.js';
import { clientKeys, sha256Hex, startDirectory, type FakeDirectory } from './helpers/directory.js';
import { authorizationUrl, authorizeAt, issueTestClientCertificate, pkce } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';

const INITIAL_ACCESS_TOKEN = `iat-${randomUUID()}`;
const REDIRECT_URI = 'https://tpp.example/callback';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let gateway: GatewayProcess;
let h: ReplicaHarness;
let directory: FakeDirectory;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let ca: Buffer;
const agents: Agent[] = [];

t.before(async () => {
  const { pki } = await testPki();
  ca = await readFile(pki.ca);
  directory = await startDirectory(pki);
  upstream = await recordingUpstream();
  const config = await testConfig(pki);
  config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'] }];
  config.registration = {
    enabled: true,
    directories: [{ issuer: directory.issuer, jwksUri: directory.jwksUri }],
    initialAccessTokenSha256: [sha256Hex(INITIAL_ACCESS_TOKEN)],
    // The fake directory and key endpoints are on loopback, which client-chosen URLs may not reach by default.
    allowPrivateAddresses: ['127.0.0.0/8', '::1'],
    rateLimit: { perIpPerMinute: 10_000, perMinute: 10_000 },
  };
  config.log = { level: 'info' };
  gateway = await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca });
  h = await replicaHarness(pki, config, 'gateway');
});

t.teardown(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await h?.close();
  await gateway?.stop();
  await directory?.close();
  await upstream?.close();
});

type Credentials = { cert: string | Buffer; key: string | Buffer };

async function credentialsOf(name: 'client-one' | 'client-two'): Promise<Credentials> {
  return { cert: await readFile(h.pki.clients[name].cert), key: await readFile(h.pki.clients[name].key) };
}

function agentFor(credentials?: Credentials): Agent {
  const agent = new Agent({ connect: { ca, servername: 'localhost', ...credentials } });
  agents.push(agent);
  return agent;
}

/** A call to the registration endpoints over `agent`. */
async function call(method: string, url: string, agent: Agent, options: { json?: unknown; jwt?: string; token?: string; raw?: string; type?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
  if (options.jwt !== undefined) [headers['content-type'], body] = ['application/jwt', options.jwt];
  if (options.raw !== undefined) [headers['content-type'], body] = [options.type ?? 'application/json', options.raw];
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return readResponse(await request(new URL(url, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: agent }));
}

const register = (json: unknown, agent: Agent, token?: string) => call('POST', '/register', agent, { json, token });

/** A registration for a private_key_jwt client whose keys are at a jwks_uri, with a directory statement. */
async function privateKeyJwtRegistration(overrides: Record<string, unknown> = {}, statementClaims: Record<string, unknown> = {}) {
  const keys = await clientKeys();
  const jwksUri = directory.serveJwks(keys.jwks);
  const softwareId = `software-${randomUUID().slice(0, 8)}`;
  const statement = await directory.statement({ software_id: softwareId, client_name: 'TPP one', scope: 'openid accounts', jwks_uri: jwksUri, ...statementClaims });
  const metadata = {
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    software_statement: statement,
    ...overrides,
  };
  return { keys, jwksUri, softwareId, statement, metadata };
}

async function assertionFor(clientId: string, keys: { privateKey: CryptoKey; kid: string }) {
  return h.assertion({ iss: clientId, sub: clientId }, { key: keys.privateKey, header: { kid: keys.kid, alg: 'ES256' } });
}

/** PAR → login → consent → token for a registered client; `keys` for private_key_jwt, none for mutual TLS. */
async function flow(clientId: string, agent: Agent, keys?: { privateKey: CryptoKey; kid: string }) {
  const auth = async (): Promise<Record<string, string>> => (keys ? { client_assertion_type: ASSERTION_TYPE, client_assertion: await assertionFor(clientId, keys) } : {});
  const { verifier, challenge } = pkce();
  const par = await h.post('/par', {
    response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, scope: 'openid accounts',
    code_challenge: challenge, code_challenge_method: 'S256', state: randomUUID(), nonce: randomUUID(), ...(await auth()),
  }, { agent });
  if (par.status !== 201) throw new Error(`PAR: ${par.status} ${par.text}`);
  const redirect = await authorizeAt(h, authorizationUrl(clientId, par.json.request_uri));
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code: ${redirect}`);
  const token = await h.post('/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: clientId, ...(await auth()) }, { agent });
  return { token, auth };
}

const resourceCall = async (accessToken: string, agent: Agent) =>
  readResponse(await request(`${h.mtlsBase}/accounts/1`, { headers: { authorization: `Bearer ${accessToken}` }, dispatcher: agent }));

t.test('discovery names the registration endpoint on the mTLS listener', async (t) => {
  const res = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  t.equal(res.json.registration_endpoint, `${h.mtlsBase}/register`);
  t.ok(res.json.scopes_supported.includes('accounts'));
});

t.test('openid-client registers with an initial access token and pushes an authorization request', async (t) => {
  const keys = await clientKeys();
  const agent = agentFor(await credentialsOf('client-one'));
  const fetch: client.CustomFetch = (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response & globalThis.Response>;
  const config = await client.dynamicClientRegistration(
    new URL(h.sharedIssuer),
    { token_endpoint_auth_method: 'private_key_jwt', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], jwks: keys.jwks, scope: 'openid accounts' } as never,
    client.PrivateKeyJwt({ key: keys.privateKey, kid: keys.kid }),
    { initialAccessToken: INITIAL_ACCESS_TOKEN, [client.customFetch]: fetch },
  );
  const metadata = config.clientMetadata();
  t.match(metadata.client_id, /^[A-Za-z0-9_-]{22}$/, 'a generated client_id');
  t.equal(metadata.registration_client_uri, `${h.mtlsBase}/register/${metadata.client_id}`);
  t.type(metadata.registration_access_token, 'string');
  t.equal(metadata.scope, 'openid accounts');
  config[client.customFetch] = fetch;
  const verifier = client.randomPKCECodeVerifier();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  t.match(url.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/, 'the registered client pushed a request');
});

let registeredTls: { clientId: string; token: string; agent: Agent; accessToken: string; refreshToken: string; softwareId: string };

t.test('a tls_client_auth client registered with a directory statement: whole flow and resource call', async (t) => {
  const name = `tpp-${randomUUID().slice(0, 6)}`;
  const credentials = await issueTestClientCertificate(h, `C=AU, O=TPP Two, CN=${name}`);
  const agent = agentFor(credentials);
  const softwareId = `software-${name}`;
  const statement = await directory.statement({ software_id: softwareId, client_name: 'TPP two', scope: 'openid accounts' });
  const res = await register({
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: `CN=${name},O=TPP Two,C=AU`,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [REDIRECT_URI],
    scope: 'openid accounts',
    software_statement: statement,
    an_unknown_member: 'ignored',
  }, agent);
  t.equal(res.status, 201, res.text);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.json.client_name, 'TPP two', 'the statement names the client');
  t.equal(res.json.software_id, softwareId);
  t.equal(res.json.software_statement, statement, 'the statement is returned as sent');
  t.notOk('an_unknown_member' in res.json, 'unknown metadata is ignored');
  t.type(res.json.client_id_issued_at, 'number');

  const { token } = await flow(res.json.client_id, agent);
  t.equal(token.status, 200, token.text);
  const resource = await resourceCall(token.json.access_token, agent);
  t.equal(resource.status, 200, 'the resource call passes');
  t.equal(resource.json.ok, true, 'and reaches the upstream');
  registeredTls = { clientId: res.json.client_id, token: res.json.registration_access_token, agent, accessToken: token.json.access_token, refreshToken: token.json.refresh_token, softwareId };
  t.ok(registeredTls.refreshToken, 'a refresh token too');
});

t.test('a private_key_jwt client registered with keys at its jwks_uri completes a flow', async (t) => {
  const { keys, metadata, jwksUri } = await privateKeyJwtRegistration();
  const agent = agentFor(await credentialsOf('client-one'));
  const res = await register(metadata, agent);
  t.equal(res.status, 201, res.text);
  t.equal(res.json.jwks_uri, jwksUri, 'the statement gives the jwks_uri');
  const { token } = await flow(res.json.client_id, agent, keys);
  t.equal(token.status, 200, token.text);
  t.equal((await resourceCall(token.json.access_token, agent)).status, 200);
});

t.test('a signed registration request (application/jwt)', async (t) => {
  const { keys, metadata } = await privateKeyJwtRegistration();
  const agent = agentFor(await credentialsOf('client-one'));
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>) => new SignJWT({ ...metadata, iat: now, exp: now + 60, aud: h.sharedIssuer, jti: randomUUID(), ...claims }).setProtectedHeader({ alg: 'ES256', kid: keys.kid }).sign(keys.privateKey);
  const res = await call('POST', '/register', agent, { jwt: await sign({}) });
  t.equal(res.status, 201, res.text);
  const other = await clientKeys(keys.kid);
  const forged = await new SignJWT({ ...metadata, iat: now, exp: now + 60, aud: h.sharedIssuer }).setProtectedHeader({ alg: 'ES256', kid: keys.kid }).sign(other.privateKey);
  const refused = await call('POST', '/register', agent, { jwt: forged });
  t.equal(refused.status, 400);
  t.equal(refused.json.error, 'invalid_client_metadata', 'signed by a key that is not the client’s: refused');
  const wrongAudience = await call('POST', '/register', agent, { jwt: await sign({ aud: 'https://elsewhere.example' }) });
  t.equal(wrongAudience.json.error, 'invalid_client_metadata', 'for another server: refused');
});

t.test('refusals, each with its RFC 7591 code and no-store', async (t) => {
  const agent = agentFor(await credentialsOf('client-one'));
  const base = await privateKeyJwtRegistration();
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['no software statement', async () => register({ ...base.metadata, software_statement: undefined }, agent), 400, 'invalid_software_statement'],
    ['a statement signed by a key the directory does not publish', async () => register({ ...base.metadata, software_statement: await directory.statement({ software_id: 'x', jwks_uri: base.jwksUri }, { signedBy: 'unknown' }) }, agent), 400, 'invalid_software_statement'],
    ['an expired (too old) statement', async () => register({ ...base.metadata, software_statement: await directory.statement({ software_id: 'x', jwks_uri: base.jwksUri }, { iat: Math.floor(Date.now() / 1000) - 600 }) }, agent), 400, 'invalid_software_statement'],
    ['a statement past its exp', async () => register({ ...base.metadata, software_statement: await directory.statement({ software_id: 'x', jwks_uri: base.jwksUri, exp: Math.floor(Date.now() / 1000) - 60 }) }, agent), 400, 'invalid_software_statement'],
    ['a statement from an untrusted issuer', async () => register({ ...base.metadata, software_statement: await directory.statement({ software_id: 'x' }, { issuer: 'https://rogue.example' }) }, agent), 400, 'unapproved_software_statement'],
    ['a statement that is not a JWT', async () => register({ ...base.metadata, software_statement: 'not-a-jwt' }, agent), 400, 'invalid_software_statement'],
    ['an http redirect URI', async () => register({ ...base.metadata, redirect_uris: ['http://tpp.example/callback'] }, agent), 400, 'invalid_redirect_uri'],
    ['a redirect URI with a fragment', async () => register({ ...base.metadata, redirect_uris: ['https://tpp.example/callback#frag'] }, agent), 400, 'invalid_redirect_uri'],
    ['an unreachable jwks_uri', async () => register((await privateKeyJwtRegistration({}, { jwks_uri: `${directory.base}/nothing-here.json` })).metadata, agent), 400, 'invalid_client_metadata'],
    ['a jwks_uri on a private address', async () => register((await privateKeyJwtRegistration({}, { jwks_uri: 'https://10.255.255.1/jwks.json' })).metadata, agent), 400, 'invalid_client_metadata'],
    ['a jwks_uri over http', async () => register((await privateKeyJwtRegistration({}, { jwks_uri: `http://localhost:1/jwks.json` })).metadata, agent), 400, 'invalid_client_metadata'],
    ['a scope the statement does not allow', async () => register({ ...base.metadata, scope: 'openid accounts payments' }, agent), 400, 'invalid_client_metadata'],
    ['an auth method the profile does not allow', async () => register({ ...base.metadata, token_endpoint_auth_method: 'client_secret_basic' }, agent), 400, 'invalid_client_metadata'],
    ['a grant type the profile does not allow', async () => register({ ...base.metadata, grant_types: ['implicit'] }, agent), 400, 'invalid_client_metadata'],
    ['a sector_identifier_uri of its own (another sector\'s subjects)', async () => register({ ...base.metadata, sector_identifier_uri: 'https://other-client.example/sector.json' }, agent), 400, 'invalid_client_metadata'],
    ['a wrong initial access token', async () => register({ ...base.metadata, software_statement: undefined }, agent, 'not-the-token'), 401, 'invalid_token'],
    ['a body that is not JSON', async () => call('POST', '/register', agent, { raw: '{"redirect_uris": [' }), 400, 'invalid_client_metadata'],
    ['a JSON array', async () => call('POST', '/register', agent, { json: [1] }), 400, 'invalid_client_metadata'],
    ['a body over the limit', async () => call('POST', '/register', agent, { json: { ...base.metadata, padding: 'x'.repeat(40_000) } }), 413, 'invalid_request'],
    ['no client certificate', async () => register(base.metadata, agentFor()), 401, 'invalid_client'],
    ['metadata of the wrong types', async () => register({ ...base.metadata, redirect_uris: 'https://tpp.example/cb', token_endpoint_auth_method: 5 }, agent), 400, 'invalid_client_metadata'],
    ['a JWK that is no key', async () => register({ ...base.metadata, jwks: { keys: [{ kty: 'EC' }] } }, agent), 400, 'invalid_client_metadata'],
    ['a subject DN that is none', async () => register({ ...base.metadata, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: '=,=' }, agent), 400, 'invalid_client_metadata'],
    ['a software_statement that is not a string', async () => register({ ...base.metadata, software_statement: 123 }, agent), 400, 'invalid_software_statement'],
    ['a content type that is neither JSON nor JWT', async () => call('POST', '/register', agent, { raw: 'a=b', type: 'text/plain' }), 400, 'invalid_request'],
  ];
  for (const [name, send, status, error] of cases) {
    const res = await send();
    t.equal(res.status, status, `${name}: ${status} (${res.text.slice(0, 200)})`);
    t.equal(res.json?.error, error, `${name}: ${error}`);
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`);
  }
});

t.test('tls_client_auth: the registered subject must be the presented certificate’s', async (t) => {
  const agent = agentFor(await credentialsOf('client-one'));
  const res = await register({
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: 'CN=somebody-else,O=TPP Two,C=AU',
    redirect_uris: [REDIRECT_URI],
    software_statement: await directory.statement({ software_id: 'wrong-subject', scope: 'openid' }),
  }, agent);
  t.equal(res.status, 400);
  t.equal(res.json.error, 'invalid_client_metadata');
  t.match(res.json.error_description, /certificate/);
});

t.test('management (RFC 7592): read, wrong token, another client’s certificate, update with rotation', async (t) => {
  const { clientId, token, agent } = registeredTls;
  const uri = `/register/${clientId}`;
  const read = await call('GET', uri, agent, { token });
  t.equal(read.status, 200, read.text);
  t.equal(read.json.client_id, clientId);
  t.equal(read.json.registration_client_uri, `${h.mtlsBase}${uri}`);
  t.notOk('registration_access_token' in read.json, 'the token is not given again');

  for (const [name, res] of [
    ['no token', await call('GET', uri, agent)],
    ['a wrong token', await call('GET', uri, agent, { token: `${token}x` })],
    ['the right token over another client’s certificate', await call('GET', uri, agentFor(await credentialsOf('client-two')), { token })],
    ['the right token for another client id', await call('GET', '/register/not-a-client', agent, { token })],
    ['the right token for a config client', await call('GET', '/register/client-one', agent, { token })],
  ] as const) {
    t.equal(res.status, 401, `${name}: 401`);
    t.equal(res.json?.error ?? (res.headers['www-authenticate'] === 'Bearer' ? 'invalid_token' : undefined), 'invalid_token', `${name}: invalid_token`);
    t.equal(res.headers['cache-control'], 'no-store');
  }

  const current = read.json;
  const replacement = { ...current, redirect_uris: [REDIRECT_URI, 'https://tpp.example/second'], software_statement: await directory.statement({ software_id: registeredTls.softwareId, client_name: 'TPP two', scope: 'openid accounts' }) };
  for (const member of ['registration_client_uri', 'client_id_issued_at']) delete replacement[member];
  const badUpdate = await call('PUT', uri, agent, { token, json: { ...replacement, redirect_uris: ['http://tpp.example/cb'] } });
  t.equal(badUpdate.status, 400, 'an update is checked as a registration is');
  t.equal(badUpdate.json.error, 'invalid_redirect_uri');
  const otherId = await call('PUT', uri, agent, { token, json: { ...replacement, client_id: 'another' } });
  t.equal(otherId.status, 400, 'client_id must stay');
  const updated = await call('PUT', uri, agent, { token, json: replacement });
  t.equal(updated.status, 200, updated.text);
  t.same(updated.json.redirect_uris, [REDIRECT_URI, 'https://tpp.example/second']);
  t.equal(updated.json.client_id_issued_at, current.client_id_issued_at, 'issued_at stays');
  const rotated = updated.json.registration_access_token;
  t.ok(rotated && rotated !== token, 'a new registration access token');
  t.equal((await call('GET', uri, agent, { token })).status, 401, 'the old one is refused');
  t.equal((await call('GET', uri, agent, { token: rotated })).status, 200, 'the new one works');
  registeredTls.token = rotated;
});

t.test('delete (RFC 7592 §2.3): 204, then the client, its access token and its refresh token are refused', async (t) => {
  const { clientId, token, agent, accessToken, refreshToken } = registeredTls;
  const uri = `/register/${clientId}`;
  t.equal((await resourceCall(accessToken, agent)).status, 200, 'the access token works before');
  t.equal((await call('DELETE', uri, agentFor(await credentialsOf('client-two')), { token })).status, 401, 'not over another client’s certificate');
  const deleted = await call('DELETE', uri, agent, { token });
  t.equal(deleted.status, 204);
  t.equal(deleted.text, '');

  const resource = await resourceCall(accessToken, agent);
  t.equal(resource.status, 401, 'the access token is refused at once');
  const userinfo = readResponse(await request(`${h.mtlsBase}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` }, dispatcher: agent }));
  t.equal((await userinfo).status, 401, 'at userinfo too');
  const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }, { agent });
  t.equal(refreshed.status, 401, 'the refresh token is refused');
  t.equal(refreshed.json.error, 'invalid_client');
  const par = await h.post('/par', { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256' }, { agent });
  t.equal(par.status, 401, 'the client no longer authenticates');
  t.equal((await call('GET', uri, agent, { token })).status, 401, 'nor can it be read');
});

t.test('metrics count registrations by outcome; audit lines name the client and software id, never a token', async (t) => {
  const metrics = await readResponse(await request(`${h.opsBase}/metrics`));
  t.match(metrics.text, /fapi_gateway_client_registrations_total\{operation="create",outcome="success"\} [1-9]/);
  t.match(metrics.text, /fapi_gateway_client_registrations_total\{operation="create",outcome="invalid_software_statement"\} [1-9]/);
  t.match(metrics.text, /fapi_gateway_client_registrations_total\{operation="delete",outcome="success"\} 1/);
  t.match(metrics.text, /fapi_gateway_client_registrations_total\{operation="read",outcome="invalid_token"\} [1-9]/);
  await new Promise((r) => setTimeout(r, 1_500)); // log lines are buffered for up to a second
  const lines = gateway.output().split('\n');
  for (const event of ['client_registered', 'client_updated', 'client_deleted']) {
    const line = lines.find((l) => l.includes('"stream":"audit"') && l.includes(`"event":"${event}"`) && l.includes(registeredTls.clientId));
    t.ok(line, `${event} is audited`);
    t.match(line, `"software_id":"${registeredTls.softwareId}"`, `${event} names the software id`);
  }
  t.notOk(gateway.output().includes(registeredTls.token), 'no registration access token in the log');
  t.ok(lines.some((l) => l.includes('"event":"certificate_mismatch"') && l.includes('/register/')), 'a token over another certificate is audited');
  t.same((await opsGet(h, '/readyz')).status, 200);
});

t.test('the directory rotates its keys: a statement with the new kid is accepted once the JWKS is fetched again', async (t) => {
  const agent = agentFor(await credentialsOf('client-one'));
  const before = directory.jwksFetches.count;
  t.ok(before >= 1, 'the JWKS was fetched before');
  await directory.rotate();
  // jose fetches a remote JWKS again for an unknown kid, at most every 30 s.
  const wait = directory.jwksFetches.lastAt + 31_000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const { metadata, jwksUri } = await privateKeyJwtRegistration();
  const res = await register({ ...metadata, software_statement: await directory.statement({ software_id: 'rotated', scope: 'openid', jwks_uri: jwksUri }, { signedBy: 'rotated' }) }, agent);
  t.equal(res.status, 201, res.text);
  t.equal(directory.jwksFetches.count, before + 1, 'fetched once more');
});
