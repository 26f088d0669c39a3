/**
 * The CDR pack's registration part against a gateway process on `profile: cdr`, with a fake CDR
 * Register over real HTTPS on loopback: Dynamic Client Registration with the Register's software
 * statements and every rule that refuses one, management by a cdr:registration token bound to the
 * client's certificate, the Register's status gating (INACTIVE refused at PAR, token and resources,
 * revocation still open; REMOVED ends the registration and its tokens), the status lists fetched with
 * ETags and kept when the Register fails, and the admin endpoints the Register calls.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { generateKeyPair, SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { readResponse, testConfig, testPki, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaHarness, type ReplicaHarness } from './helpers/replicas.js';
import { configureCdr, startCdrRegister, type FakeCdrRegister } from './helpers/cdr-register.js';
import { CDR_REDIRECTS as REDIRECTS, clientAssertion as signedAssertion, newSoftware as newSoftwareAt, registrationRequest as signedRequest, ssaClaims, type Software } from './helpers/cdr-recipient.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ADR_STATUS_NOT_ACTIVE = 'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive';

let gateway: GatewayProcess;
let h: ReplicaHarness;
let register: FakeCdrRegister;
let dir: string;
let ca: Buffer;
const agents: Agent[] = [];
let credentials: Record<'client-one' | 'client-two', { cert: Buffer; key: Buffer }>;

t.before(async () => {
  const { pki } = await testPki();
  ca = await readFile(pki.ca);
  credentials = {
    'client-one': { cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) },
    'client-two': { cert: await readFile(pki.clients['client-two'].cert), key: await readFile(pki.clients['client-two'].key) },
  };
  register = await startCdrRegister(pki);
  const config = await testConfig(pki);
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-cdr-'));
  await configureCdr(config, pki, register, dir, 10);
  config.log = { level: 'info' };
  gateway = await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca });
  h = await replicaHarness(pki, config, 'gateway');
});

t.teardown(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await h?.close();
  await gateway?.stop();
  await register?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function agentOf(name: 'client-one' | 'client-two' | null): Agent {
  const agent = new Agent({ connect: { ca, servername: 'localhost', ...(name ? credentials[name] : {}) } });
  agents.push(agent);
  return agent;
}

async function call(method: string, pathname: string, options: { agent?: Agent; jwt?: string; token?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.jwt !== undefined) [headers['content-type'], body] = ['application/jwt', options.jwt];
  if (options.form !== undefined) [headers['content-type'], body] = ['application/x-www-form-urlencoded', new URLSearchParams(options.form).toString()];
  if (options.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await request(new URL(pathname, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: options.agent ?? agentOf('client-one') });
  return readResponse(res);
}

const newSoftware = () => newSoftwareAt(register);
const registrationRequest = (sw: Software, ssa: string, extra: Record<string, unknown> = {}, key?: { privateKey: CryptoKey; kid: string }) =>
  signedRequest(sw, h.sharedIssuer, ssa, extra, key);
const clientAssertion = (sw: Software) => signedAssertion(sw, h.sharedIssuer);

async function registerSoftware(sw: Software): Promise<Response> {
  const res = await call('POST', '/register', { jwt: await registrationRequest(sw, await register.statement(ssaClaims(sw))) });
  if (res.status === 201) sw.clientId = res.json.client_id;
  return res;
}

async function clientCredentials(sw: Software, via: 'client-one' | 'client-two' = 'client-one', scope = 'cdr:registration'): Promise<Response> {
  return call('POST', '/token', {
    agent: agentOf(via),
    form: { grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(sw) },
  });
}

async function adminCall(method: 'GET' | 'POST', pathname: string, options: { jwt?: string | null; headers?: Record<string, string>; json?: unknown } = {}): Promise<Response> {
  const jwt = options.jwt === undefined ? await register.adminJwt(h.mtlsBase) : options.jwt;
  return call(method, pathname, { token: jwt ?? undefined, headers: { 'x-v': method === 'GET' ? '5' : '1', ...options.headers }, json: options.json });
}

/** The Register asks for a refresh (Metadata Update); the statuses are fetched in the background. */
async function refreshStatuses(): Promise<void> {
  const res = await adminCall('POST', '/cds-au/v1/admin/register/metadata', { json: { data: { action: 'REFRESH' } } });
  if (res.status !== 200) throw new Error(`metadata refresh answered ${res.status}: ${res.text}`);
}

async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('registration with a Register statement: 201, the statement returned as sent with its metadata top level', async (t) => {
  const sw = await newSoftware();
  const ssa = await register.statement(ssaClaims(sw));
  const res = await call('POST', '/register', { jwt: await registrationRequest(sw, ssa) });
  t.equal(res.status, 201, res.text);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.json.software_statement, ssa, 'the statement unmodified');
  t.equal(res.json.software_id, sw.softwareId);
  t.equal(res.json.org_id, `org-${sw.softwareId}`);
  t.equal(res.json.legal_entity_id, sw.legalEntityId);
  t.equal(res.json.recipient_base_uri, 'https://adr.example', 'kept with the client');
  t.equal(res.json.revocation_uri, 'https://adr.example/revoke');
  t.equal(res.json.software_roles, 'data-recipient-software-product', 'statement metadata as top-level fields');
  t.equal(res.json.org_name, 'Example Brand');
  t.equal(res.json.jwks_uri, sw.jwksUri, "the keys are the statement's");
  t.same(res.json.redirect_uris, [REDIRECTS[0]], 'the redirect URIs asked for, within the statement');
  t.equal(res.json.scope, 'openid profile bank:accounts.basic:read cdr:registration', 'a scope the holder does not offer is left out, not refused');
  t.notOk('registration_access_token' in res.json, 'no RFC 7592 token: management is by cdr:registration');
  sw.clientId = res.json.client_id;

  const second = await call('POST', '/register', { jwt: await registrationRequest(sw, await register.statement(ssaClaims(sw))) });
  t.equal(second.status, 400, 'one active registration per software_id');
  t.equal(second.json.error, 'invalid_client_metadata');
  t.match(second.json.error_description, /registered already/);
});

t.test('every rule that refuses a statement or a registration request', async (t) => {
  const sw = await newSoftware();
  const refused = async (jwt: string) => call('POST', '/register', { jwt });
  const cases: Array<[string, () => Promise<string>, string, RegExp?]> = [
    ['a statement signed by a key the Register does not publish', async () => registrationRequest(sw, await register.statement(ssaClaims(sw), { signedBy: 'unknown' })), 'invalid_software_statement'],
    ['a statement older than 10 minutes', async () => registrationRequest(sw, await register.statement(ssaClaims(sw), { iat: Math.floor(Date.now() / 1000) - 700, exp: Math.floor(Date.now() / 1000) + 300 })), 'invalid_software_statement', /too old/],
    ['a statement past its own exp', async () => registrationRequest(sw, await register.statement(ssaClaims(sw), { iat: Math.floor(Date.now() / 1000) - 120, exp: Math.floor(Date.now() / 1000) - 60 })), 'invalid_software_statement', /expired/],
    ['a statement from another issuer', async () => registrationRequest(sw, await register.statement(ssaClaims(sw), { issuer: 'not-the-register' })), 'unapproved_software_statement'],
    ['a statement without recipient_base_uri', async () => registrationRequest(sw, await register.statement(ssaClaims(sw, { recipient_base_uri: undefined }))), 'invalid_software_statement', /recipient_base_uri/],
    [
      "a request signed with a key not in the statement's jwks_uri",
      async () => {
        const other = await generateKeyPair('PS256');
        return registrationRequest(sw, await register.statement(ssaClaims(sw)), {}, { privateKey: other.privateKey as CryptoKey, kid: sw.kid });
      },
      'invalid_client_metadata',
      /signature/,
    ],
    ['a request not issued by the software', async () => registrationRequest(sw, await register.statement(ssaClaims(sw)), { iss: 'someone-else' }), 'invalid_client_metadata', /software_id/],
    ['a request for another audience', async () => registrationRequest(sw, await register.statement(ssaClaims(sw)), { aud: 'https://other.example' }), 'invalid_client_metadata'],
    ['redirect URIs outside the statement', async () => registrationRequest(sw, await register.statement(ssaClaims(sw)), { redirect_uris: ['https://evil.example/cb'] }), 'invalid_redirect_uri'],
  ];
  for (const [name, make, error, description] of cases) {
    const res = await refused(await make());
    t.equal(res.status, 400, name);
    t.equal(res.json?.error, error, `${name}: ${res.text}`);
    if (description) t.match(res.json.error_description, description, name);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const json = await call('POST', '/register', { json: { software_statement: await register.statement(ssaClaims(sw)) } });
  t.equal(json.status, 400, 'the registration request must be a signed JWT');
  t.equal(json.json.error, 'invalid_request');
  t.equal((await registerSoftware(sw)).status, 201, 'nothing of the refusals was kept: the software registers afterwards');
});

t.test('management by a cdr:registration client_credentials token bound to the client certificate', async (t) => {
  const sw = await newSoftware();
  t.equal((await registerSoftware(sw)).status, 201);
  const other = await newSoftware();
  t.equal((await registerSoftware(other)).status, 201);
  const token = await clientCredentials(sw);
  t.equal(token.status, 200, token.text);
  const accessToken = token.json.access_token as string;
  const uri = `/register/${sw.clientId}`;

  const read = await call('GET', uri, { token: accessToken });
  t.equal(read.status, 200, read.text);
  t.equal(read.json.client_id, sw.clientId);
  t.equal(read.json.recipient_base_uri, 'https://adr.example');

  const none = await call('GET', uri);
  t.equal(none.status, 401, 'no token');
  t.match(none.headers['www-authenticate'], /^Bearer/);
  const otherCertificate = await call('GET', uri, { token: accessToken, agent: agentOf('client-two') });
  t.equal(otherCertificate.status, 401, 'the token over another certificate');
  t.equal(otherCertificate.json.error, 'invalid_token');
  const noCertificate = await call('GET', uri, { token: accessToken, agent: agentOf(null) });
  t.equal(noCertificate.status, 401, 'the token without a certificate');
  const othersToken = (await clientCredentials(other)).json.access_token as string;
  const wrongClient = await call('GET', uri, { token: othersToken });
  t.equal(wrongClient.status, 401, "another client's token");
  t.match(wrongClient.json.error_description, /not issued to this client/);
  // A client_credentials token carries the client-credentials-only scopes alone (profile cdr), so
  // the only token without cdr:registration is one the token endpoint refuses to make.
  const noScope = await clientCredentials(sw, 'client-one', 'bank:accounts.basic:read');
  t.equal(noScope.status, 400, 'a customer data scope is not for client_credentials');
  t.equal(noScope.json.error, 'invalid_scope');

  const updated = await call('PUT', uri, {
    token: accessToken,
    jwt: await registrationRequest(sw, await register.statement(ssaClaims(sw)), { redirect_uris: REDIRECTS }),
  });
  t.equal(updated.status, 200, updated.text);
  t.same(updated.json.redirect_uris, REDIRECTS, 'updated');
  t.equal(updated.json.client_id, sw.clientId);

  const deleted = await call('DELETE', uri, { token: accessToken });
  t.equal(deleted.status, 204);
  const after = await call('GET', uri, { token: accessToken });
  t.equal(after.status, 401, "the deleted client's token ends with it");
  t.equal((await registerSoftware(sw)).status, 201, 'the software_id may register again once deleted');
});

t.test('the admin endpoints: the Register self-signed JWT, used once; CDS versions and errors', async (t) => {
  const metrics = '/cds-au/v1/admin/metrics';
  const cds = (res: Response) => res.json?.errors?.[0]?.code;
  const missing = await adminCall('GET', metrics, { jwt: null });
  t.equal(missing.status, 401, 'no JWT');
  t.equal(cds(missing), 'urn:au-cds:error:cds-all:GeneralError/Expected');
  t.ok(missing.json.errors[0].title && missing.json.errors[0].detail, 'the CDS error envelope');
  t.equal(missing.headers['cache-control'], 'no-store');

  const jwt = await register.adminJwt(h.mtlsBase);
  const first = await adminCall('GET', metrics, { jwt });
  t.equal(first.status, 200, first.text);
  t.equal(first.headers['x-v'], '5');
  const replay = await adminCall('GET', metrics, { jwt });
  t.equal(replay.status, 401, 'a jti is used once');
  t.match(replay.json.errors[0].detail, /used before/);

  t.equal((await adminCall('GET', metrics, { jwt: await register.adminJwt(h.mtlsBase, { signedBy: 'unknown' }) })).status, 401, 'a key the Register does not publish');
  t.equal((await adminCall('GET', metrics, { jwt: await register.adminJwt('https://other.example') })).status, 401, 'another audience');
  t.equal((await adminCall('GET', metrics, { jwt: await register.adminJwt(h.mtlsBase, { issuer: 'someone' }) })).status, 401, 'another issuer');
  t.equal((await adminCall('GET', metrics, { jwt: await register.adminJwt(`${h.mtlsBase}${metrics}`) })).status, 200, 'aud = the endpoint URL');

  const noVersion = await adminCall('GET', metrics, { headers: { 'x-v': '' } });
  t.equal(noVersion.status, 400);
  t.equal(cds(noVersion), 'urn:au-cds:error:cds-all:Header/Missing');
  const badVersion = await adminCall('GET', metrics, { headers: { 'x-v': 'five' } });
  t.equal(cds(badVersion), 'urn:au-cds:error:cds-all:Header/InvalidVersion');
  const unsupported = await adminCall('GET', metrics, { headers: { 'x-v': '9' } });
  t.equal(unsupported.status, 406);
  t.equal(cds(unsupported), 'urn:au-cds:error:cds-all:Header/UnsupportedVersion');
  const negotiated = await adminCall('GET', metrics, { headers: { 'x-v': '9', 'x-min-v': '3' } });
  t.equal(negotiated.status, 200, 'the highest served version between x-min-v and x-v');
  t.equal(negotiated.headers['x-v'], '5');
  const badPeriod = await adminCall('GET', `${metrics}?period=LAST`);
  t.equal(badPeriod.status, 400);
  t.equal(cds(badPeriod), 'urn:au-cds:error:cds-all:Field/Invalid');

  const metadata = '/cds-au/v1/admin/register/metadata';
  const noAction = await adminCall('POST', metadata, { json: { data: {} } });
  t.equal(noAction.status, 400);
  t.equal(cds(noAction), 'urn:au-cds:error:cds-all:Field/Missing');
  const badAction = await adminCall('POST', metadata, { json: { data: { action: 'DELETE' } } });
  t.equal(cds(badAction), 'urn:au-cds:error:cds-all:Field/Invalid');
  const ok = await adminCall('POST', metadata, { json: { data: { action: 'REFRESH' } } });
  t.equal(ok.status, 200);
  t.equal(ok.headers['x-v'], '1');
});

t.test('Get Metrics v5: the payload from the gateway counts, by period', async (t) => {
  const res = await adminCall('GET', '/cds-au/v1/admin/metrics?period=CURRENT');
  t.equal(res.status, 200);
  const data = res.json.data;
  t.match(res.json, { links: { self: /\/cds-au\/v1\/admin\/metrics$/ }, meta: {} });
  t.ok(!Number.isNaN(Date.parse(data.requestTime)), 'requestTime');
  for (const tier of ['unauthenticated', 'highPriority', 'lowPriority', 'unattended', 'largePayload']) {
    t.type(data.invocations[tier].currentDay, 'number', `invocations.${tier}`);
    t.notOk('previousDays' in data.invocations[tier], 'CURRENT: no previous days');
    t.type(data.averageResponse[tier].currentDay, 'number');
    t.ok(Array.isArray(data.performance[tier].currentDay), `performance.${tier} per hour`);
    for (const hour of data.performance[tier].currentDay) t.match(hour, /^\d(\.\d+)?$/, 'a RateString');
  }
  t.ok(data.invocations.highPriority.currentDay > 0, 'the token and registration calls so far are counted');
  t.ok(data.sessionCount.currentDay > 0, 'sessions: access tokens issued');
  t.match(data.averageTps, { aggregate: { currentDay: Number }, authenticated: { currentDay: Number }, unauthenticated: { currentDay: Number } });
  t.match(data.peakTps, { aggregate: { currentDay: Number } });
  t.match(data.errors, { aggregate: { currentDay: Number }, authenticated: { currentDay: Object }, unauthenticated: { currentDay: Object } });
  t.match(data.rejections, { authenticated: { currentDay: Number }, unauthenticated: { currentDay: Number } });
  t.match(data.availability, { aggregate: {}, authenticated: {}, unauthenticated: {} }, 'availability is not measured: left out as the CDS allows');
  t.type(data.customerCount, 'number', 'customerCount (mandatory)');
  t.type(data.recipientCount, 'number', 'recipientCount (mandatory)');
  t.match(data.authorisations, {
    activeAuthorisationCount: { individual: Number, nonIndividual: Number },
    newAuthorisationCount: { currentDay: { onceOff: { individual: Number, nonIndividual: Number }, ongoing: { individual: Number, nonIndividual: Number } } },
    revokedAuthorisationCount: { currentDay: { individual: Number, nonIndividual: Number } },
    amendedAuthorisationCount: { currentDay: { individual: Number, nonIndividual: Number } },
    expiredAuthorisationCount: { currentDay: { individual: Number, nonIndividual: Number } },
    abandonedConsentFlowCount: {},
    abandonmentsByStage: { preIdentification: {}, preAuthentication: {}, preAccountSelection: {}, preAuthorisation: {}, rejected: {}, failedTokenExchange: {} },
  }, 'every mandatory member of the authorisations');

  const historic = await adminCall('GET', '/cds-au/v1/admin/metrics?period=HISTORIC');
  t.ok(Array.isArray(historic.json.data.invocations.highPriority.previousDays), 'HISTORIC: previous days');
  t.notOk('currentDay' in historic.json.data.invocations.highPriority);
  const all = await adminCall('GET', '/cds-au/v1/admin/metrics');
  t.ok('currentDay' in all.json.data.invocations.highPriority && 'previousDays' in all.json.data.invocations.highPriority, 'ALL (the default): both');
});

t.test('INACTIVE: refused at PAR and the token endpoint (403 AdrStatusNotActive), revocation still open; the last status kept when the Register fails', async (t) => {
  const sw = await newSoftware();
  t.equal((await registerSoftware(sw)).status, 201);
  const before = await clientCredentials(sw);
  t.equal(before.status, 200, 'active: tokens are issued');

  const inactive = await newSoftware();
  register.setProduct(inactive.softwareId, 'INACTIVE');
  register.setProduct(sw.softwareId, 'INACTIVE');
  await refreshStatuses();
  let token: Response | undefined;
  await until(async () => (token = await clientCredentials(sw)).status === 403, 'the token endpoint to refuse the inactive product');
  t.equal(token!.json.error, ADR_STATUS_NOT_ACTIVE);
  t.match(token!.json.error_description, /INACTIVE/);
  t.equal(token!.headers['cache-control'], 'no-store');

  const par = await call('POST', '/par', {
    form: { client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(sw), response_type: 'code', client_id: sw.clientId!, request: 'x' },
  });
  t.equal(par.status, 403, 'PAR refused');
  t.equal(par.json.error, ADR_STATUS_NOT_ACTIVE);

  const resource = await call('GET', '/userinfo', { token: before.json.access_token });
  t.equal(resource.status, 403, 'a resource call with a token issued before');
  t.equal(resource.json.error, ADR_STATUS_NOT_ACTIVE);

  const revoked = await call('POST', '/revoke', {
    form: { token: before.json.access_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(sw) },
  });
  t.equal(revoked.status, 200, 'an inactive product may still revoke');

  const refusedRegistration = await call('POST', '/register', { jwt: await registrationRequest(inactive, await register.statement(ssaClaims(inactive))) });
  t.equal(refusedRegistration.status, 400, 'an inactive product does not register');
  t.equal(refusedRegistration.json.error, 'unapproved_software_statement');

  // The Register fails: the last known statuses stay in force, and the cause is logged.
  register.failing = true;
  const failedBefore = register.fetches.total;
  await refreshStatuses();
  await until(async () => register.fetches.total >= failedBefore + 2, 'the failed fetches');
  await sleep(500);
  t.equal((await clientCredentials(sw)).status, 403, 'still INACTIVE while the Register fails');
  await until(async () => gateway.output().includes('cdr_register_status_unavailable'), 'the logged cause');
  t.match(gateway.output(), /the CDR Register status list could not be fetched.*|cdr_register_status_unavailable/);
  register.failing = false;

  register.setProduct(sw.softwareId, 'ACTIVE');
  await refreshStatuses();
  await until(async () => (await clientCredentials(sw)).status === 200, 'the product active again');
  t.pass('ACTIVE again: tokens are issued');
});

t.test('INACTIVE after PAR: the authorization endpoint sends the error to the redirect URI', async (t) => {
  const sw = await newSoftware();
  t.equal((await registerSoftware(sw)).status, 201);
  const now = Math.floor(Date.now() / 1000);
  const state = `state-${Date.now()}`;
  const requestObject = await new SignJWT({
    iss: sw.clientId,
    aud: h.sharedIssuer,
    client_id: sw.clientId,
    response_type: 'code',
    redirect_uri: REDIRECTS[0],
    scope: 'openid bank:accounts.basic:read',
    state,
    nonce: `nonce-${now}`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    iat: now,
    nbf: now,
    exp: now + 60,
  })
    .setProtectedHeader({ alg: 'PS256', kid: sw.kid, typ: 'oauth-authz-req+jwt' })
    .sign(sw.privateKey);
  const pushed = await call('POST', '/par', {
    form: { client_id: sw.clientId!, request: requestObject, client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(sw) },
  });
  t.equal(pushed.status, 201, pushed.text);

  register.setProduct(sw.softwareId, 'INACTIVE');
  await refreshStatuses();
  await until(async () => (await clientCredentials(sw)).status === 403, 'the product inactive');
  const authorize = await h.get(`${h.issuer}/authorize?${new URLSearchParams({ client_id: sw.clientId!, request_uri: pushed.json.request_uri })}`);
  t.equal(authorize.status, 303, authorize.text);
  const location = new URL(authorize.headers.location as string);
  t.equal(`${location.origin}${location.pathname}`, REDIRECTS[0], 'back to the client');
  t.equal(location.searchParams.get('error'), ADR_STATUS_NOT_ACTIVE);
  t.equal(location.searchParams.get('state'), state);
});

t.test('a suspended data recipient makes its products inactive', async (t) => {
  const sw = await newSoftware();
  t.equal((await registerSoftware(sw)).status, 201);
  register.setRecipient(sw.legalEntityId, 'SUSPENDED');
  await refreshStatuses();
  await until(async () => (await clientCredentials(sw)).status === 403, 'the suspended recipient refused');
  register.setRecipient(sw.legalEntityId, 'ACTIVE');
  await refreshStatuses();
  await until(async () => (await clientCredentials(sw)).status === 200, 'active again');
  t.pass();
});

t.test('REMOVED: the registration is removed and its tokens end', async (t) => {
  const sw = await newSoftware();
  t.equal((await registerSoftware(sw)).status, 201);
  const token = await clientCredentials(sw);
  t.equal(token.status, 200);
  t.equal((await call('GET', `/register/${sw.clientId}`, { token: token.json.access_token })).status, 200);
  register.setProduct(sw.softwareId, 'REMOVED');
  await refreshStatuses();
  await until(async () => gateway.output().includes('client_removed_by_register'), 'the removal');
  const after = await call('GET', `/register/${sw.clientId}`, { token: token.json.access_token });
  t.equal(after.status, 401, 'the access token ended with the registration');
  const newToken = await clientCredentials(sw);
  t.equal(newToken.status, 401, 'the client no longer authenticates');
  t.equal(newToken.json.error, 'invalid_client');
});

t.test('the status lists are fetched with If-None-Match and a 304 keeps them', async (t) => {
  const before = { ...register.fetches };
  await refreshStatuses();
  await until(async () => register.fetches.total >= before.total + 2, 'a fetch');
  await refreshStatuses();
  await until(async () => register.fetches.total >= before.total + 4, 'a second fetch');
  t.ok(register.fetches.ifNoneMatch > before.ifNoneMatch, 'If-None-Match sent');
  t.ok(register.fetches.notModified > before.notModified, 'answered 304');
});
