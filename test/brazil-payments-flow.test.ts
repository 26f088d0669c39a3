/**
 * Open Finance Brasil payments end to end, on `profile: brazil` in a gateway process with a fake
 * Directory over real HTTPS on loopback: a registered TPP creates a signed payment consent, the
 * customer authorises it through PAR (`payments` + `consent:<id>`, CPF checked at login), the TPP
 * initiates the PIX payment with that authorization's token, which consumes the consent and ends
 * every token of it. Also every refusal on the way.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { decodeJwt } from 'jose';
import { Agent, request } from 'undici';
import { testConfig, testPki, readResponse, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaHarness, type ReplicaHarness } from './helpers/replicas.js';
import { startDirectory, type FakeDirectory } from './helpers/directory.js';
import { brazilTpp, signedByTpp, softwareStatement, type Tpp } from './helpers/ofb.js';
import { authorizeConsent } from './helpers/brazil.js';
import { browserRequest, CookieJar, formOf, pkce, type PushedAuthorization } from './helpers/flow.js';
import { paymentInstruction } from '../src/ecosystems/brazil/payments/payment-request.js';
import type { PaymentConsent } from '../src/ecosystems/brazil/payments/payment-consents.js';

const ALICE_CPF = '76109277673';
const BANK_ORG = 'bank-org-0001';
const CONSENTS = '/open-banking/payments/v4/consents';
const PAYMENTS = '/open-banking/payments/v4/pix/payments';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const REDIRECT = 'https://tpp.example/cb';
const CREDITOR_ACCOUNT = { ispb: '12345678', issuer: '0001', number: '1234567890', accountType: 'CACC' };

let gateway: GatewayProcess;
let h: ReplicaHarness;
let directory: FakeDirectory;

t.before(async () => {
  const { pki } = await testPki();
  directory = await startDirectory(pki);
  const config = await testConfig(pki);
  config.profile = 'brazil';
  const keysDir = await mkdtemp(path.join(tmpdir(), 'fapi-brazil-keys-'));
  t.teardown(() => rm(keysDir, { recursive: true, force: true }));
  const keys = JSON.parse(await readFile(pki.signingKeys, 'utf8'));
  config.keys = { signing: path.join(keysDir, 'signing.jwks.json') };
  await writeFile(config.keys.signing, JSON.stringify({ keys: keys.keys.filter((k: { alg: string }) => k.alg === 'PS256') }), { mode: 0o600 });
  config.clients = [];
  config.users[0].claims = { ...config.users[0].claims, cpf: ALICE_CPF };
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

async function call(method: string, url: string, agent: Agent, options: { jwt?: string; token?: string; headers?: Record<string, string>; form?: Record<string, string>; json?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
  if (options.jwt !== undefined) [headers['content-type'], body] = ['application/jwt', options.jwt];
  if (options.form !== undefined) [headers['content-type'], body] = ['application/x-www-form-urlencoded', new URLSearchParams(options.form).toString()];
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return readResponse(await request(new URL(url, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: agent }));
}

type Registered = Tpp & { clientId: string };

async function registeredTpp(): Promise<Registered> {
  const tpp = await brazilTpp(h, directory);
  const created = await call('POST', '/register', tpp.agent, {
    json: {
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      jwks_uri: tpp.jwksUri,
      software_statement: await softwareStatement(directory, tpp),
    },
  });
  if (created.status !== 201) throw new Error(`registration: ${created.text}`);
  return { ...tpp, clientId: created.json.client_id };
}

async function clientAuth(tpp: Registered): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await signedByTpp(tpp, { iss: tpp.clientId, sub: tpp.clientId, aud: h.sharedIssuer, iat: now, exp: now + 60, jti: randomUUID() });
  return { client_id: tpp.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion };
}

async function clientToken(tpp: Registered, scope = 'payments'): Promise<string> {
  const res = await call('POST', '/token', tpp.agent, { form: { grant_type: 'client_credentials', scope, ...(await clientAuth(tpp)) } });
  if (res.status !== 200) throw new Error(`token: ${res.text}`);
  return res.json.access_token;
}

const today = () => new Date(Date.now() - 3 * 3_600_000).toISOString().slice(0, 10);

function consentData(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    loggedUser: { document: { identification: ALICE_CPF, rel: 'CPF' } },
    creditor: { personType: 'PESSOA_NATURAL', cpfCnpj: '22222222222', name: 'Maria Silva' },
    payment: { type: 'PIX', date: today(), currency: 'BRL', amount: '100.00', details: { localInstrument: 'DICT', proxy: 'maria@example.com', creditorAccount: CREDITOR_ACCOUNT } },
    ...overrides,
  };
}

/** A payment consent created by `tpp`; its id. */
async function paymentConsent(tpp: Registered, overrides: Record<string, unknown> = {}): Promise<string> {
  const jwt = await signedByTpp(tpp, { aud: `${h.mtlsBase}${CONSENTS}`, iss: tpp.orgId, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), data: consentData(overrides) });
  const res = await call('POST', CONSENTS, tpp.agent, { jwt, token: await clientToken(tpp), headers: { 'x-idempotency-key': randomUUID() } });
  if (res.status !== 201) throw new Error(`payment consent: ${res.status} ${res.text}`);
  return decodeJwt(res.text).data ? (decodeJwt(res.text).data as { consentId: string }).consentId : '';
}

async function consentStatus(tpp: Registered, consentId: string): Promise<Record<string, any>> {
  const res = await call('GET', `${CONSENTS}/${encodeURIComponent(consentId)}`, tpp.agent, { token: await clientToken(tpp) });
  return decodeJwt(res.text).data as Record<string, any>;
}

async function par(tpp: Registered, scope: string): Promise<Response & { pushed?: PushedAuthorization }> {
  const { verifier, challenge } = pkce();
  const form = { response_type: 'code', client_id: tpp.clientId, redirect_uri: REDIRECT, scope, code_challenge: challenge, code_challenge_method: 'S256', state: randomUUID(), nonce: randomUUID() };
  const res = await call('POST', '/par', tpp.agent, { form: { ...form, ...(await clientAuth(tpp)) } });
  return res.status === 201 ? { ...res, pushed: { requestUri: res.json.request_uri, verifier, state: form.state, nonce: form.nonce, form } } : res;
}

/** PAR → login → approval → tokens for a payment consent. */
async function authorisePayment(tpp: Registered, consentId: string): Promise<Record<string, any>> {
  const pushed = await par(tpp, `openid payments consent:${consentId}`);
  if (!pushed.pushed) throw new Error(`PAR: ${pushed.text}`);
  const { redirect, page } = await authorizeConsent(h, pushed.pushed, { client: tpp.clientId as never });
  const code = redirect?.searchParams.get('code');
  if (!code) throw new Error(`no code: ${redirect} ${page?.text.slice(0, 300)}`);
  const tokens = await call('POST', '/token', tpp.agent, { form: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: pushed.pushed.verifier, ...(await clientAuth(tpp)) } });
  if (tokens.status !== 200) throw new Error(`token: ${tokens.text}`);
  return tokens.json;
}

function paymentBody(tpp: Registered, consentId: string, overrides: Record<string, unknown> = {}, claims: Record<string, unknown> = {}): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-T:]/g, '').slice(0, 12);
  const data = {
    endToEndId: `E12345678${stamp}${randomUUID().replace(/-/g, '').slice(0, 11)}`,
    localInstrument: 'DICT',
    payment: { amount: '100.00', currency: 'BRL' },
    creditorAccount: CREDITOR_ACCOUNT,
    proxy: 'maria@example.com',
    cnpjInitiator: '12345678000199',
    consentId,
    ...overrides,
  };
  return signedByTpp(tpp, { aud: `${h.mtlsBase}${PAYMENTS}`, iss: tpp.orgId, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), data: [data], ...claims });
}

const initiate = async (tpp: Registered, token: string, jwt: string, key = randomUUID()) => call('POST', PAYMENTS, tpp.agent, { jwt, token, headers: { 'x-idempotency-key': key } });

t.test('a payment consent authorised through PAR, consumed by one PIX payment; its tokens end with it', async (t) => {
  const tpp = await registeredTpp();
  const consentId = await paymentConsent(tpp);
  const tokens = await authorisePayment(tpp, consentId);
  t.equal(decodeJwt(tokens.access_token).consent_id, consentId, 'the token carries the payment consent');
  t.ok(tokens.refresh_token, 'a refresh token while the consent is AUTHORISED');
  t.ok(tokens.expires_in >= 300 && tokens.expires_in <= 900);
  const authorised = await consentStatus(tpp, consentId);
  t.equal(authorised.status, 'AUTHORISED');
  t.equal(Date.parse(authorised.expirationDateTime) - Date.parse(authorised.statusUpdateDateTime), 3_600_000, '60 minutes to be consumed');

  const refreshed = await call('POST', '/token', tpp.agent, { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await clientAuth(tpp)) } });
  t.equal(refreshed.status, 200, 'the refresh token works before the payment');
  t.equal(refreshed.json.refresh_token ?? tokens.refresh_token, tokens.refresh_token, 'and is not rotated');

  const byClientToken = await initiate(tpp, await clientToken(tpp), await paymentBody(tpp, consentId));
  t.equal(byClientToken.status, 403, 'a client_credentials token cannot initiate a payment');
  t.equal(byClientToken.json.errors[0].code, 'FORBIDDEN', 'in the OFB envelope (the caller is not known yet)');

  const key = randomUUID();
  const body = await paymentBody(tpp, consentId);
  const paid = await initiate(tpp, tokens.access_token, body, key);
  t.equal(paid.status, 201, paid.text);
  t.match(paid.headers['content-type'], /^application\/jwt/);
  const payment = decodeJwt(paid.text) as Record<string, any>;
  t.equal(payment.iss, BANK_ORG);
  t.equal(payment.aud, tpp.orgId);
  t.equal(payment.data[0].status, 'RCVD');
  t.equal(payment.data[0].consentId, consentId);
  t.same(payment.data[0].payment, { amount: '100.00', currency: 'BRL' });

  t.equal((await consentStatus(tpp, consentId)).status, 'CONSUMED', 'the consent is consumed');
  const again = await initiate(tpp, tokens.access_token, await paymentBody(tpp, consentId));
  t.equal(again.status, 401, 'its access token is refused at once');
  const refreshAfter = await call('POST', '/token', tpp.agent, { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await clientAuth(tpp)) } });
  t.equal(refreshAfter.status, 400, 'no refresh token after CONSUMED');
  t.equal(refreshAfter.json.error, 'invalid_grant');

  const read = await call('GET', `${PAYMENTS}/${payment.data[0].paymentId}`, tpp.agent, { token: await clientToken(tpp) });
  t.equal(read.status, 200);
  t.equal((decodeJwt(read.text).data as any).paymentId, payment.data[0].paymentId, 'read back, signed');
  const stranger = await registeredTpp();
  t.equal((await call('GET', `${PAYMENTS}/${payment.data[0].paymentId}`, stranger.agent, { token: await clientToken(stranger) })).status, 404, "another TPP's payment is not found");
});

t.test('PAR refuses a payment consent that is not this client\'s, not awaiting, or missing', async (t) => {
  const tpp = await registeredTpp();
  const other = await registeredTpp();
  const theirs = await paymentConsent(other);
  const cases: Array<[string, string, string]> = [
    ['no consent scope', 'openid payments', 'invalid_scope'],
    ['two consent scopes', `openid payments consent:${theirs} consent:urn:testbank:x`, 'invalid_scope'],
    ["another client's consent", `openid payments consent:${theirs}`, 'invalid_request'],
    ['an unknown consent', 'openid payments consent:urn:testbank:nothing', 'invalid_request'],
  ];
  for (const [name, scope, error] of cases) {
    const res = await par(tpp, scope);
    t.equal(res.status, 400, `${name}: 400`);
    t.equal(res.json?.error, error, `${name}: ${error}`);
  }
  const mine = await paymentConsent(tpp);
  const asData = await par(tpp, `openid accounts consent:${mine}`);
  t.equal(asData.status, 400, 'a payment consent is not a data consent');
  await authorisePayment(tpp, mine);
  const used = await par(tpp, `openid payments consent:${mine}`);
  t.equal(used.json?.error, 'invalid_request', 'an AUTHORISED consent is not authorised again');
});

t.test('login by another customer rejects the payment consent; so does denial', async (t) => {
  const tpp = await registeredTpp();
  const forBob = await paymentConsent(tpp, { loggedUser: { document: { identification: '11122233344', rel: 'CPF' } } });
  const pushed = await par(tpp, `openid payments consent:${forBob}`);
  const { redirect } = await authorizeConsent(h, pushed.pushed!, { client: tpp.clientId as never });
  t.equal(redirect?.searchParams.get('error'), 'access_denied', 'the CPF does not match');
  const rejected = await consentStatus(tpp, forBob);
  t.equal(rejected.status, 'REJECTED');
  t.equal(rejected.rejectionReason.code, 'REJEITADO_USUARIO');

  const denied = await paymentConsent(tpp);
  const pushedAgain = await par(tpp, `openid payments consent:${denied}`);
  const page = await authorizeConsent(h, pushedAgain.pushed!, { client: tpp.clientId as never, decision: 'deny' });
  t.equal(page.redirect?.searchParams.get('error'), 'access_denied');
  t.equal((await consentStatus(tpp, denied)).status, 'REJECTED', 'denied by the customer');
});

t.test('the consent page shows the payment, in Brazilian Portuguese', async (t) => {
  const tpp = await registeredTpp();
  const consentId = await paymentConsent(tpp);
  const pushed = await par(tpp, `openid payments consent:${consentId}`);
  const jar = new CookieJar();
  const headers = { 'accept-language': 'pt-BR' };
  const first = await browserRequest(h, jar, `/authorize?${new URLSearchParams({ client_id: tpp.clientId, request_uri: pushed.pushed!.requestUri })}`, undefined, headers);
  const { action, csrf } = formOf(first.text);
  const login = await browserRequest(h, jar, action, { csrf, username: 'alice', password: 'wonderland', action: 'login' }, headers);
  const page = await browserRequest(h, jar, login.headers.location as string, undefined, headers);
  t.equal(page.status, 200);
  t.match(page.text, /Pagamento Pix de R\$ 100,00 para Maria Silva em \d{2}\/\d{2}\/\d{4}/);
  t.notMatch(page.text, /consent:urn/, 'the consent scope itself is not listed');
});

t.test('the payment must be what the consent authorised; every rule refuses', async (t) => {
  const tpp = await registeredTpp();
  const consentId = await paymentConsent(tpp);
  const tokens = await authorisePayment(tpp, consentId);
  const { privateKey: strangerKey } = await (await import('jose')).generateKeyPair('PS256');
  const signatureCases: Array<[string, () => Promise<Response>, number, string]> = [
    ['a bad signature', async () => initiate(tpp, tokens.access_token, await signedByTpp(tpp, { aud: `${h.mtlsBase}${PAYMENTS}`, iss: tpp.orgId, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), data: [] }, { key: strangerKey as CryptoKey })), 400, 'BAD_SIGNATURE'],
    ['another aud', async () => initiate(tpp, tokens.access_token, await paymentBody(tpp, consentId, {}, { aud: `${h.mtlsBase}${CONSENTS}` })), 403, 'INVALID_CLIENT'],
    ['an old iat', async () => initiate(tpp, tokens.access_token, await paymentBody(tpp, consentId, {}, { iat: Math.floor(Date.now() / 1000) - 120 })), 403, 'INVALID_CLIENT'],
    ['no idempotency key', async () => call('POST', PAYMENTS, tpp.agent, { jwt: await paymentBody(tpp, consentId), token: tokens.access_token }), 400, 'PARAMETRO_NAO_INFORMADO'],
  ];
  for (const [name, attempt, status, code] of signatureCases) {
    const res = await attempt();
    t.equal(res.status, status, `${name}: ${status}`);
    t.equal((decodeJwt(res.text).errors as any[])[0].code, code, `${name}: ${code}`);
  }
  t.equal((await consentStatus(tpp, consentId)).status, 'AUTHORISED', 'refusals before the content is read leave the consent as it was');

  const divergent = await initiate(tpp, tokens.access_token, await paymentBody(tpp, consentId, { payment: { amount: '100.01', currency: 'BRL' } }));
  t.equal(divergent.status, 422);
  t.equal((decodeJwt(divergent.text).errors as any[])[0].code, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO');
  t.equal((await consentStatus(tpp, consentId)).status, 'CONSUMED', 'OFB: a payment refused for its content consumes the consent too');

});

t.test('paymentInstruction: the payment is checked against its consent', async (t) => {
  const consent = {
    consentId: 'urn:testbank:c1', clientId: 'tpp', organisationId: 'org', status: 'AUTHORISED', createdAt: 0, statusUpdatedAt: 0,
    request: consentData(),
  } as PaymentConsent;
  const base = { endToEndId: 'E1234567820261202120012345678901', localInstrument: 'DICT', payment: { amount: '100.00', currency: 'BRL' }, creditorAccount: CREDITOR_ACCOUNT, cnpjInitiator: '12345678000199', consentId: 'urn:testbank:c1' };
  t.equal(paymentInstruction({ data: [base] }, consent).endToEndId, base.endToEndId, 'the authorised payment');
  const cases: Array<[string, unknown, string]> = [
    ['another creditor account', { data: [{ ...base, creditorAccount: { ...CREDITOR_ACCOUNT, number: '999' } }] }, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO'],
    ['another consent id', { data: [{ ...base, consentId: 'urn:testbank:other' }] }, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO'],
    ['another instrument', { data: [{ ...base, localInstrument: 'MANU' }] }, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO'],
    ['another currency', { data: [{ ...base, payment: { amount: '100.00', currency: 'USD' } }] }, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO'],
    ['a malformed endToEndId', { data: [{ ...base, endToEndId: 'E123' }] }, 'PARAMETRO_INVALIDO'],
    ['no cnpjInitiator', { data: [{ ...base, cnpjInitiator: undefined }] }, 'PARAMETRO_NAO_INFORMADO'],
    ['two payments', { data: [base, base] }, 'PARAMETRO_INVALIDO'],
    ['data an object', { data: base }, 'PARAMETRO_INVALIDO'],
    ['no data', {}, 'PARAMETRO_NAO_INFORMADO'],
  ];
  for (const [name, body, code] of cases) t.throws(() => paymentInstruction(body, consent), { status: 422, code }, `${name}: ${code}`);
});

t.test('profile brazil offers private_key_jwt only: a tls_client_auth registration is refused', async (t) => {
  const tpp = await brazilTpp(h, directory);
  const res = await call('POST', '/register', tpp.agent, {
    json: {
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: tpp.subjectDn,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      jwks_uri: tpp.jwksUri,
      software_statement: await softwareStatement(directory, tpp),
    },
  });
  t.equal(res.status, 400);
  t.equal(res.json.error, 'invalid_client_metadata', res.text);
});
