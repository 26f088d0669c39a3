/**
 * Open Finance Brasil: registration with the Directory's software statements and the signed payment
 * consents API, against a gateway process with a fake Directory (its JWKS, statements signed by it,
 * the third parties' organisation JWKS) over real HTTPS on loopback, and Brazil-style client
 * certificates (UID, organizationIdentifier, the ICP-Brasil attributes) from the test CA.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import { testConfig, testPki, readResponse, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaHarness, type ReplicaHarness } from './helpers/replicas.js';
import { startDirectory, type FakeDirectory } from './helpers/directory.js';
import { derivedProfile } from './helpers/derived-profile.js';
import { brazilTpp, signedByTpp, softwareStatement, type Tpp } from './helpers/ofb.js';

const BANK_ORG = 'bank-org-0001';
const CONSENTS = '/open-banking/payments/v4/consents';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let gateway: GatewayProcess;
let h: ReplicaHarness;
let directory: FakeDirectory;

t.before(async () => {
  const { pki } = await testPki();
  directory = await startDirectory(pki);
  const config = await testConfig(pki);
  config.profile = await derivedProfile({
    name: 'brazil-test',
    ecosystem: 'brazil',
    clientAuthMethods: ['private_key_jwt', 'tls_client_auth'],
    algorithms: { signing: ['PS256'], clientAssertion: ['PS256'] },
  });
  // PS256 keys only, as the profile signs with nothing else.
  const keysDir = await mkdtemp(path.join(tmpdir(), 'fapi-brazil-keys-'));
  t.teardown(() => rm(keysDir, { recursive: true, force: true }));
  const keys = JSON.parse(await readFile(pki.signingKeys, 'utf8'));
  config.keys = { signing: path.join(keysDir, 'signing.jwks.json') };
  await writeFile(config.keys.signing, JSON.stringify({ keys: keys.keys.filter((k: { alg: string }) => k.alg === 'PS256') }), { mode: 0o600 });
  config.clients = [];
  config.users = [];
  config.registration = {
    enabled: true,
    scopes: ['openid', 'accounts', 'consents', 'resources', 'payments'],
    allowPrivateAddresses: ['127.0.0.0/8', '::1'],
    rateLimit: { perIpPerMinute: 10_000, perMinute: 10_000 },
  };
  config.ecosystem = { directory: { issuer: directory.issuer, jwksUri: directory.jwksUri }, payments: { organisationId: BANK_ORG }, bankUrnPrefix: 'testbank' };
  gateway = await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca });
  h = await replicaHarness(pki, config, 'gateway');
});
t.teardown(async () => {
  await h?.close();
  await gateway?.stop();
  await directory?.close();
});

async function call(method: string, path: string, agent: Agent, options: { json?: unknown; jwt?: string; token?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
  if (options.jwt !== undefined) [headers['content-type'], body] = ['application/jwt', options.jwt];
  if (options.form !== undefined) [headers['content-type'], body] = ['application/x-www-form-urlencoded', new URLSearchParams(options.form).toString()];
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return readResponse(await request(new URL(path, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: agent }));
}

function registration(tpp: Tpp, statement: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['https://tpp.example/cb'],
    jwks_uri: tpp.jwksUri,
    software_statement: statement,
    ...extra,
  };
}

async function register(tpp: Tpp, claims: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Response> {
  return call('POST', '/register', tpp.agent, { json: registration(tpp, await softwareStatement(directory, tpp, claims), extra) });
}

t.test('registration: a Directory statement registers its software, once, with the scopes of its roles; management keeps the token', async (t) => {
  const tpp = await brazilTpp(h, directory);
  const statement = await softwareStatement(directory, tpp);
  const created = await call('POST', '/register', tpp.agent, { json: registration(tpp, statement) });
  t.equal(created.status, 201, created.text);
  t.equal(created.json.jwks_uri, tpp.jwksUri);
  t.equal(created.json.software_id, tpp.softwareId);
  t.equal(created.json.client_name, 'TPP Example', 'the software_client_name');
  t.same(created.json.scope.split(' ').sort(), ['accounts', 'consents', 'openid', 'payments', 'resources'], 'no scope asked: every scope of the active roles the bank offers');
  const { client_id: clientId, registration_access_token: token, registration_client_uri: uri } = created.json;

  const again = await call('POST', '/register', tpp.agent, { json: registration(tpp, statement) });
  t.equal(again.status, 400);
  t.equal(again.json.error, 'invalid_software_statement', 'a statement registers one client only');

  for (let i = 0; i < 2; i++) t.equal((await call('GET', uri, tpp.agent, { token })).status, 200, 'read');
  const updated = await call('PUT', uri, tpp.agent, { token, json: { ...registration(tpp, await softwareStatement(directory, tpp)), client_id: clientId, redirect_uris: ['https://tpp.example/cb2'] } });
  t.equal(updated.status, 200, updated.text);
  t.same(updated.json.redirect_uris, ['https://tpp.example/cb2']);
  t.equal(updated.json.registration_access_token, token, 'the registration access token is not rotated: the same one is repeated');
  t.equal((await call('GET', uri, tpp.agent, { token })).json.registration_access_token, token, 'and read answers repeat it too');
  t.equal((await call('GET', uri, tpp.agent, { token })).status, 200, 'the same token still manages the client');
  // Another first character (a random token may already start with any one).
  const wrong = (token[0] === 'x' ? 'y' : 'x') + token.slice(1);
  t.equal((await call('GET', uri, tpp.agent, { token: wrong })).status, 401, 'a wrong token does not');
  t.equal((await call('DELETE', uri, tpp.agent, { token })).status, 204);
  t.equal((await call('GET', uri, tpp.agent, { token })).status, 401, 'deleted');
});

t.test('registration: a scope asked for must be within the active roles', async (t) => {
  const tpp = await brazilTpp(h, directory);
  const dataOnly = { software_statement_roles: [{ role: 'DADOS', status: 'Active' }, { role: 'PAGTO', status: 'Inactive' }] };
  const refused = await register(tpp, dataOnly, { scope: 'openid payments' });
  t.equal(refused.status, 400);
  t.equal(refused.json.error, 'invalid_client_metadata');
  const other = await brazilTpp(h, directory);
  const defaulted = await register(other, dataOnly);
  t.equal(defaulted.status, 201);
  t.notOk(defaulted.json.scope.split(' ').includes('payments'), 'an inactive role gives nothing');
  const narrow = await register(await brazilTpp(h, directory), {}, { scope: 'openid payments' });
  t.equal(narrow.json.scope, 'openid payments', 'a narrower scope is kept');
  const none = await register(await brazilTpp(h, directory), { software_statement_roles: [{ role: 'DADOS', status: 'Inactive' }] });
  t.equal(none.json.error, 'unapproved_software_statement', 'no active role');
});

t.test('registration: every rule refuses', async (t) => {
  const cases: Array<[string, () => Promise<Response>, string]> = [
    ['no software statement', async () => { const tpp = await brazilTpp(h, directory); return call('POST', '/register', tpp.agent, { json: { ...registration(tpp, ''), software_statement: undefined } }); }, 'invalid_software_statement'],
    ['a statement signed by a key the Directory does not publish', async () => { const tpp = await brazilTpp(h, directory); return call('POST', '/register', tpp.agent, { json: registration(tpp, await softwareStatement(directory, tpp, {}, { signedBy: 'unknown' })) }); }, 'invalid_software_statement'],
    ['a statement older than 5 minutes', async () => { const tpp = await brazilTpp(h, directory); return call('POST', '/register', tpp.agent, { json: registration(tpp, await softwareStatement(directory, tpp, {}, { iat: Math.floor(Date.now() / 1000) - 400 })) }); }, 'invalid_software_statement'],
    ['an organisation that is not Active', async () => register(await brazilTpp(h, directory), { org_status: 'Inactive' }), 'unapproved_software_statement'],
    ['jwks by value', async () => { const tpp = await brazilTpp(h, directory); const { publicKey } = await generateKeyPair('PS256'); return register(tpp, {}, { jwks_uri: undefined, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'PS256' }] } }); }, 'invalid_client_metadata'],
    ['a jwks_uri other than software_jwks_uri', async () => { const tpp = await brazilTpp(h, directory); const { publicKey } = await generateKeyPair('PS256'); const other = directory.serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k2', alg: 'PS256' }] }); return register(tpp, {}, { jwks_uri: other }); }, 'invalid_client_metadata'],
    ['a redirect URI not in the statement', async () => register(await brazilTpp(h, directory), {}, { redirect_uris: ['https://tpp.example/elsewhere'] }), 'invalid_redirect_uri'],
    ['no redirect URI', async () => register(await brazilTpp(h, directory), {}, { redirect_uris: undefined }), 'invalid_redirect_uri'],
    ["a certificate whose UID is another software's", async () => register(await brazilTpp(h, directory, { uid: randomUUID() })), 'invalid_software_statement'],
    ["a certificate of another organisation", async () => register(await brazilTpp(h, directory, { orgIdInCert: randomUUID() })), 'invalid_software_statement'],
    ['a tls_client_auth subject that is not the certificate\'s', async () => { const tpp = await brazilTpp(h, directory); return register(tpp, {}, { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: tpp.subjectDn.replace('2.5.4.5=#130e3132', '2.5.4.5=#130e3932') }); }, 'invalid_client_metadata'],
  ];
  for (const [name, attempt, error] of cases) {
    const res = await attempt();
    t.equal(res.status, 400, `${name}: 400`);
    t.equal(res.json?.error, error, `${name}: ${error}`);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const selfMade = await register(await brazilTpp(h, directory, { selfSigned: true }));
  t.equal(selfMade.status, 401, 'a certificate with the right ids that no trusted CA issued');
  t.equal(selfMade.json.error, 'invalid_client');
  const unknown = await register(await brazilTpp(h, directory), { iss: 'https://not-the-directory.example' });
  t.equal(unknown.json.error, 'unapproved_software_statement', 'a statement of another issuer');
});

t.test('registration: the legacy OU certificate, and tls_client_auth with the ICP-Brasil subject in the #hex form', async (t) => {
  const legacy = await register(await brazilTpp(h, directory, { legacyOu: true }));
  t.equal(legacy.status, 201, legacy.text);

  const tpp = await brazilTpp(h, directory);
  const created = await register(tpp, {}, { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: tpp.subjectDn });
  t.equal(created.status, 201, created.text);
  const token = await call('POST', '/token', tpp.agent, { form: { grant_type: 'client_credentials', scope: 'consents', client_id: created.json.client_id } });
  t.equal(token.status, 200, `the client authenticates by its certificate: ${token.text}`);
});

/** A registered payments client with a client_credentials token of scope payments. */
async function paymentsClient(scope = 'payments'): Promise<Tpp & { clientId: string; token: string }> {
  const tpp = await brazilTpp(h, directory);
  const created = await register(tpp);
  const clientId = created.json.client_id as string;
  const now = Math.floor(Date.now() / 1000);
  const assertion = await signedByTpp(tpp, { iss: clientId, sub: clientId, aud: h.issuer, iat: now, exp: now + 60, jti: randomUUID() });
  const token = await call('POST', '/token', tpp.agent, { form: { grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion } });
  if (token.status !== 200) throw new Error(`token: ${token.text}`);
  return { ...tpp, clientId, token: token.json.access_token };
}

function consentData(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const today = new Date(Date.now() - 3 * 3_600_000).toISOString().slice(0, 10);
  return {
    loggedUser: { document: { identification: '11111111111', rel: 'CPF' } },
    creditor: { personType: 'PESSOA_NATURAL', cpfCnpj: '22222222222', name: 'Maria Silva' },
    payment: {
      type: 'PIX',
      date: today,
      currency: 'BRL',
      amount: '100.00',
      details: { localInstrument: 'DICT', proxy: 'maria@example.com', creditorAccount: { ispb: '12345678', issuer: '0001', number: '1234567890', accountType: 'CACC' } },
    },
    ...overrides,
  };
}

async function consentRequest(tpp: Tpp, claims: Record<string, unknown> = {}, options: Parameters<typeof signedByTpp>[2] = {}): Promise<string> {
  return signedByTpp(tpp, { aud: `${h.mtlsBase}${CONSENTS}`, iss: tpp.orgId, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), data: consentData(), ...claims }, options);
}

async function verifyBankSigned(t: { match: Function; equal: Function }, res: Response, tpp: Tpp): Promise<Record<string, any>> {
  t.match(res.headers['content-type'], /^application\/jwt/, 'a signed answer');
  const header = JSON.parse(Buffer.from(res.text.split('.')[0], 'base64url').toString());
  t.equal(header.alg, 'PS256');
  const jwks = await call('GET', `${h.issuer}/jwks`, h.agent());
  const key = jwks.json?.keys?.find((k: any) => k.kid === header.kid);
  const { payload } = await jwtVerify(res.text, () => importJWK(key, 'PS256') as Promise<CryptoKey>, { issuer: BANK_ORG, audience: tpp.orgId, algorithms: ['PS256'] });
  return payload as Record<string, any>;
}

t.test('payment consents: created from a signed body, idempotent, read back signed by the bank', async (t) => {
  const tpp = await paymentsClient();
  const key = randomUUID();
  const body = await consentRequest(tpp);
  const created = await call('POST', CONSENTS, tpp.agent, { jwt: body, token: tpp.token, headers: { 'x-idempotency-key': key } });
  t.equal(created.status, 201, 'created');
  const payload = await verifyBankSigned(t, created, tpp);
  t.match(payload.data.consentId, /^urn:testbank:/);
  t.equal(payload.data.status, 'AWAITING_AUTHORISATION');
  t.match(payload.data.creationDateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.equal(Date.parse(payload.data.expirationDateTime) - Date.parse(payload.data.creationDateTime), 300_000, 'awaiting authorisation for 5 minutes');
  t.ok(payload.jti && payload.iat);

  const replay = await call('POST', CONSENTS, tpp.agent, { jwt: body, token: tpp.token, headers: { 'x-idempotency-key': key } });
  t.equal(replay.status, 201);
  t.equal(replay.text, created.text, 'the same key and body: the same answer');
  const otherBody = await call('POST', CONSENTS, tpp.agent, { jwt: await consentRequest(tpp), token: tpp.token, headers: { 'x-idempotency-key': key } });
  t.equal(otherBody.status, 422);
  t.equal((await verifyBankSigned(t, otherBody, tpp)).errors[0].code, 'ERRO_IDEMPOTENCIA', 'the same key with another body');
  const reusedJti = await call('POST', CONSENTS, tpp.agent, { jwt: body, token: tpp.token, headers: { 'x-idempotency-key': randomUUID() } });
  t.equal(reusedJti.status, 403);
  t.equal((await verifyBankSigned(t, reusedJti, tpp)).errors[0].code, 'INVALID_CLIENT', 'a jti used before');

  const read = await call('GET', `${CONSENTS}/${encodeURIComponent(payload.data.consentId)}`, tpp.agent, { token: tpp.token });
  t.equal(read.status, 200);
  t.equal((await verifyBankSigned(t, read, tpp)).data.consentId, payload.data.consentId);
  const stranger = await paymentsClient();
  const foreign = await call('GET', `${CONSENTS}/${encodeURIComponent(payload.data.consentId)}`, stranger.agent, { token: stranger.token });
  t.equal(foreign.status, 404, "another client's consent is not found");
});

t.test('payment consents: every rule refuses', async (t) => {
  const tpp = await paymentsClient();
  const post = async (jwt: string, headers: Record<string, string> = { 'x-idempotency-key': randomUUID() }) => call('POST', CONSENTS, tpp.agent, { jwt, token: tpp.token, headers });
  const { privateKey: strangerKey } = await generateKeyPair('PS256');
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['a signature by another key', async () => post(await consentRequest(tpp, {}, { key: strangerKey as CryptoKey })), 400, 'BAD_SIGNATURE'],
    ['a body that is not a JWS', async () => post('not.a.jws'), 400, 'BAD_SIGNATURE'],
    ['another aud', async () => post(await consentRequest(tpp, { aud: 'https://elsewhere.example/consents' })), 403, 'INVALID_CLIENT'],
    ['another iss', async () => post(await consentRequest(tpp, { iss: 'another-org' })), 403, 'INVALID_CLIENT'],
    ['an iat 2 minutes old', async () => post(await consentRequest(tpp, { iat: Math.floor(Date.now() / 1000) - 120 })), 403, 'INVALID_CLIENT'],
    ['an iat 2 minutes ahead', async () => post(await consentRequest(tpp, { iat: Math.floor(Date.now() / 1000) + 120 })), 403, 'INVALID_CLIENT'],
    ['no jti', async () => post(await consentRequest(tpp, { jti: undefined })), 403, 'INVALID_CLIENT'],
    ['no x-idempotency-key', async () => post(await consentRequest(tpp), {}), 400, 'PARAMETRO_NAO_INFORMADO'],
    ['an amount that is not one', async () => post(await consentRequest(tpp, { data: consentData({ payment: { ...(consentData().payment as object), amount: '10' } }) })), 422, 'PARAMETRO_INVALIDO'],
    ['a payment that is not PIX', async () => post(await consentRequest(tpp, { data: consentData({ payment: { ...(consentData().payment as object), type: 'TED' } }) })), 422, 'FORMA_PAGAMENTO_INVALIDA'],
    ['a date in the past', async () => post(await consentRequest(tpp, { data: consentData({ payment: { ...(consentData().payment as object), date: '2020-01-01' } }) })), 422, 'DATA_PAGAMENTO_INVALIDA'],
    ['no logged user', async () => post(await consentRequest(tpp, { data: consentData({ loggedUser: undefined }) })), 422, 'PARAMETRO_NAO_INFORMADO'],
  ];
  for (const [name, attempt, status, code] of cases) {
    const res = await attempt();
    t.equal(res.status, status, `${name}: ${status}`);
    t.equal((await verifyBankSigned(t, res, tpp)).errors?.[0]?.code, code, `${name}: ${code}`);
  }
  const json = await call('POST', CONSENTS, tpp.agent, { json: { data: consentData() }, token: tpp.token, headers: { 'x-idempotency-key': randomUUID() } });
  t.equal(json.status, 415, 'a JSON body');

  const noToken = await call('POST', CONSENTS, tpp.agent, { jwt: await consentRequest(tpp), headers: { 'x-idempotency-key': randomUUID() } });
  t.equal(noToken.status, 401);
  t.equal(noToken.json.errors[0].code, 'UNAUTHORIZED', 'the OFB envelope');
  t.ok(noToken.json.meta.requestDateTime);
  const consentsOnly = await paymentsClient('consents');
  const wrongScope = await call('POST', CONSENTS, consentsOnly.agent, { jwt: await consentRequest(consentsOnly), token: consentsOnly.token, headers: { 'x-idempotency-key': randomUUID() } });
  t.equal(wrongScope.status, 403, 'a token without the payments scope');
  const otherCertificate = await brazilTpp(h, directory);
  const unbound = await call('POST', CONSENTS, otherCertificate.agent, { jwt: await consentRequest(tpp), token: tpp.token, headers: { 'x-idempotency-key': randomUUID() } });
  t.equal(unbound.status, 401, 'a token presented over another certificate');
});
