import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { request } from 'undici';
import { readResponse } from './helpers/harness.js';
import { userinfo } from './helpers/flow.js';
import {
  ALICE_CNPJ,
  auth,
  authorizeConsent,
  clientToken,
  consentBody,
  consentFlow,
  consentsCall,
  createConsent,
  pushConsent,
  redeemCode,
  startBrazil,
  URN_PREFIX,
} from './helpers/brazil.js';

// profile: brazil end to end over real TLS: the Consents API, the consent:<id> scope at PAR, the
// customer check at login, approval and denial, and tokens that end with their consent.

const h = await startBrazil();
t.teardown(() => h.close());
const path = (id: string) => '/' + encodeURIComponent(id);
const OFB_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

t.test('discovery: only what the profile allows', async (t) => {
  const res = await request(`${h.issuer}/.well-known/openid-configuration`, { dispatcher: h.agent() });
  const d = (await readResponse(res)).json;
  t.same(d.token_endpoint_auth_methods_supported, ['private_key_jwt']);
  t.same(d.id_token_signing_alg_values_supported, ['PS256']);
  t.same(d.token_endpoint_auth_signing_alg_values_supported, ['PS256']);
  t.same(d.request_object_signing_alg_values_supported, ['PS256']);
  t.same(d.id_token_encryption_alg_values_supported, ['RSA-OAEP']);
  t.same(d.id_token_encryption_enc_values_supported, ['A256GCM']);
  t.same(d.acr_values_supported, ['urn:brasil:openbanking:loa2', 'urn:brasil:openbanking:loa3']);
  for (const claim of ['acr', 'cpf', 'cnpj']) t.ok(d.claims_supported.includes(claim), `claims_supported has ${claim}`);
  for (const scope of ['openid', 'accounts', 'credit-cards-accounts', 'consents', 'customers', 'invoice-financings', 'financings', 'loans', 'unarranged-accounts-overdraft', 'resources', 'payments'])
    t.ok(d.scopes_supported.includes(scope), `scopes_supported has ${scope}`);
  t.same(d.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
  t.equal(d.token_endpoint, `${h.mtlsBase}/token`, 'the plain fields name the mTLS listener');
  t.same(d.mtls_endpoint_aliases.pushed_authorization_request_endpoint, `${h.mtlsBase}/par`);
  t.same(d.mtls_endpoint_aliases.userinfo_endpoint, `${h.mtlsBase}/userinfo`);
  t.equal(d.claims_parameter_supported, true);
});

t.test('the back channel answers on the mTLS listener only', async (t) => {
  for (const endpoint of ['/par', '/token', '/userinfo']) {
    const res = await readResponse(await request(`${h.issuer}${endpoint}`, { method: 'POST', dispatcher: h.agent(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' }));
    t.equal(res.status, 404, `${endpoint} is not on the public listener`);
  }
});

t.test('Consents API: creation', async (t) => {
  const token = await clientToken(h);
  const interaction = crypto.randomUUID();
  const res = await consentsCall(h, 'POST', '', { token, body: consentBody({ expirationDateTime: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z') }), headers: { 'x-fapi-interaction-id': interaction } });
  t.equal(res.status, 201);
  t.equal(res.headers['x-fapi-interaction-id'], interaction, 'x-fapi-interaction-id echoed');
  t.equal(res.headers['cache-control'], 'no-store');
  const { data, links, meta } = res.json;
  t.match(data.consentId, new RegExp(`^urn:${URN_PREFIX}:[0-9a-f-]{36}$`), 'a URN under the bank prefix');
  t.equal(data.status, 'AWAITING_AUTHORISATION');
  for (const field of ['creationDateTime', 'statusUpdateDateTime', 'expirationDateTime']) t.match(data[field], OFB_TIME, `${field} without fractions`);
  t.same(data.permissions, ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ', 'CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ']);
  t.equal(links.self, `${h.mtlsBase}/open-banking/consents/v3/consents/${encodeURIComponent(data.consentId)}`);
  t.match(meta.requestDateTime, OFB_TIME);

  const read = await consentsCall(h, 'GET', path(data.consentId), { token });
  t.equal(read.status, 200);
  t.equal(read.json.data.status, 'AWAITING_AUTHORISATION');
  const alnum = await consentsCall(h, 'POST', '', { token, body: consentBody({ businessEntity: { document: { identification: ALICE_CNPJ, rel: 'CNPJ' } } }) });
  t.equal(alnum.status, 201, 'an alphanumeric CNPJ is accepted');
});

t.test('Consents API: refusals in the OFB envelope', async (t) => {
  const token = await clientToken(h);
  const cases: [string, unknown, number, string][] = [
    ['no data', {}, 400, 'PARAMETRO_NAO_INFORMADO'],
    ['no loggedUser', { data: { permissions: ['ACCOUNTS_READ'] } }, 400, 'PARAMETRO_NAO_INFORMADO'],
    ['CPF of 10 digits', consentBody({ loggedUser: { document: { identification: '1234567890', rel: 'CPF' } } }), 400, 'PARAMETRO_INVALIDO'],
    ['rel not CPF', consentBody({ loggedUser: { document: { identification: '76109277673', rel: 'RG' } } }), 400, 'PARAMETRO_INVALIDO'],
    ['lower-case CNPJ', consentBody({ businessEntity: { document: { identification: '12abc34501de35', rel: 'CNPJ' } } }), 400, 'PARAMETRO_INVALIDO'],
    ['unknown permission', consentBody({ permissions: ['ACCOUNTS_READ', 'RESOURCES_READ', 'ACCOUNTS_BALANCES_READ', 'EVERYTHING_READ'] }), 400, 'PARAMETRO_INVALIDO'],
    ['no permissions', consentBody({ permissions: [] }), 400, 'PARAMETRO_NAO_INFORMADO'],
    ['incomplete group', consentBody({ permissions: ['ACCOUNTS_READ', 'RESOURCES_READ'] }), 422, 'COMBINACAO_PERMISSOES_INCORRETA'],
    ['RESOURCES_READ missing', consentBody({ permissions: ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ'] }), 422, 'COMBINACAO_PERMISSOES_INCORRETA'],
    [
      'personal and business together',
      consentBody({ businessEntity: { document: { identification: ALICE_CNPJ, rel: 'CNPJ' } }, permissions: ['CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ', 'CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ', 'RESOURCES_READ'] }),
      422,
      'PERMISSAO_PF_PJ_EM_CONJUNTO',
    ],
    ['business without businessEntity', consentBody({ permissions: ['CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ', 'RESOURCES_READ'] }), 422, 'PERMISSOES_PJ_INCORRETAS'],
    ['expiry in the past', consentBody({ expirationDateTime: '2020-01-01T00:00:00Z' }), 422, 'DATA_EXPIRACAO_INVALIDA'],
    ['expiry beyond a year', consentBody({ expirationDateTime: new Date(Date.now() + 400 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z') }), 422, 'DATA_EXPIRACAO_INVALIDA'],
    ['expiry with fractions', consentBody({ expirationDateTime: new Date(Date.now() + 86_400_000).toISOString() }), 400, 'PARAMETRO_INVALIDO'],
    ['not JSON', 'permissions=ACCOUNTS_READ', 400, 'PARAMETRO_INVALIDO'],
  ];
  for (const [name, body, status, code] of cases) {
    const res = await consentsCall(h, 'POST', '', { token, body });
    t.equal(res.status, status, `${name}: ${status}`);
    t.equal(res.json?.errors?.[0]?.code, code, `${name}: ${code}`);
    t.ok(res.json?.errors?.[0]?.title && res.json?.errors?.[0]?.detail !== undefined, `${name}: title and detail`);
    t.match(res.json?.meta?.requestDateTime, OFB_TIME, `${name}: meta.requestDateTime`);
    t.equal(res.headers['cache-control'], 'no-store');
  }
});

t.test('Consents API: a revoked client_credentials token creates nothing, whatever its body', async (t) => {
  const token = await clientToken(h);
  const metricsUrl = `http://127.0.0.1:${h.gateway.context.config.listeners.ops.port}/metrics`;
  const created = async () => Number(/fapi_gateway_brazil_consent_transitions_total\{transition="created"\} (\d+)/.exec(await (await request(metricsUrl)).body.text())?.[1] ?? 0);
  const before = await created();
  t.equal((await h.post('/revoke', { token, ...(await auth(h)) })).status, 200, 'revoked');
  // The creation's revocation check rides on its write; a body refused before the write is checked all the same.
  for (const [name, body] of [['a valid body', consentBody()], ['an invalid body', {}]] as const) {
    const res = await consentsCall(h, 'POST', '', { token, body });
    t.equal(res.status, 401, `${name}: 401`);
    t.match(res.headers['www-authenticate'], /invalid_token/, `${name}: invalid_token`);
    t.match(res.json?.errors?.[0]?.detail, /revoked/, `${name}: said to be revoked`);
  }
  t.equal(await created(), before, 'no consent was written');
  t.ok(h.logs.some((l) => l.includes('"audit":"revoked_token_used"')), 'audited as a revoked token used');
});

t.test('Consents API: permissions of products the bank does not offer are trimmed', async (t) => {
  const narrow = await startBrazil({ configure: (config) => void (config.ecosystem.consents.products = ['accounts']) });
  t.teardown(() => narrow.close());
  const token = await clientToken(narrow);
  const res = await consentsCall(narrow, 'POST', '', { token, body: consentBody({ permissions: ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ', 'LOANS_READ', 'LOANS_WARRANTIES_READ', 'LOANS_SCHEDULED_INSTALMENTS_READ', 'LOANS_PAYMENTS_READ'] }) });
  t.equal(res.status, 201);
  t.same(res.json.data.permissions, ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ']);
  const none = await consentsCall(narrow, 'POST', '', { token, body: consentBody({ permissions: ['LOANS_READ', 'LOANS_WARRANTIES_READ', 'LOANS_SCHEDULED_INSTALMENTS_READ', 'LOANS_PAYMENTS_READ', 'RESOURCES_READ'] }) });
  t.equal(none.status, 422);
  t.equal(none.json.errors[0].code, 'SEM_PERMISSOES_FUNCIONAIS_RESTANTES');
});

t.test('Consents API: tokens', async (t) => {
  const none = await consentsCall(h, 'POST', '', { body: consentBody() });
  t.equal(none.status, 401, 'no token');
  t.ok(none.json.errors[0].code);
  t.equal(none.headers['www-authenticate'], 'Bearer');
  const token = await clientToken(h);
  const otherCertificate = await consentsCall(h, 'POST', '', { token, body: consentBody(), client: 'client-two' });
  t.equal(otherCertificate.status, 401, "another client's certificate");
  const noCertificate = await consentsCall(h, 'POST', '', { token, body: consentBody(), client: null });
  t.equal(noCertificate.status, 401, 'no certificate');
  const accountsOnly = await clientToken(h, 'client-one', 'accounts');
  const wrongScope = await consentsCall(h, 'POST', '', { token: accountsOnly, body: consentBody() });
  t.equal(wrongScope.status, 403, 'a token without the consents scope');
  const { tokens, consentId } = await consentFlow(h);
  for (const [method, p] of [['POST', ''], ['GET', path(consentId)], ['DELETE', path(consentId)]] as const) {
    const res = await consentsCall(h, method, p, { token: tokens.access_token, body: method === 'POST' ? consentBody() : undefined });
    t.equal(res.status, 403, `${method}: an authorization-code token is refused`);
  }
  const other = await consentsCall(h, 'GET', path(consentId), { token: await clientToken(h, 'client-two'), client: 'client-two' });
  t.equal(other.status, 403, "another client's consent");
  const unknown = await consentsCall(h, 'GET', path(`urn:${URN_PREFIX}:nope`), { token });
  t.equal(unknown.status, 404);
  t.equal(unknown.json.errors[0].code, 'NAO_ENCONTRADO');
  const put = await consentsCall(h, 'PUT', path(consentId), { token, body: {} });
  t.equal(put.status, 405);
});

t.test('DELETE before authorisation: REJECTED by the user, then 422', async (t) => {
  const token = await clientToken(h);
  const consentId = await createConsent(h);
  const deleted = await consentsCall(h, 'DELETE', path(consentId), { token });
  t.equal(deleted.status, 204);
  const read = await consentsCall(h, 'GET', path(consentId), { token });
  t.equal(read.json.data.status, 'REJECTED');
  t.same(read.json.data.rejection, { rejectedBy: 'USER', reason: { code: 'CUSTOMER_MANUALLY_REJECTED' } });
  const again = await consentsCall(h, 'DELETE', path(consentId), { token });
  t.equal(again.status, 422);
  t.equal(again.json.errors[0].code, 'CONSENTIMENTO_EM_STATUS_REJEITADO');
  const par = await pushConsent(h, consentId);
  t.equal(par.status, 400, 'a rejected consent cannot be authorised');
  t.equal(par.json.error, 'invalid_request');
});

t.test('PAR: the consent scope', async (t) => {
  const consentId = await createConsent(h);
  const cases: [string, Record<string, string>, string][] = [
    ['no consent scope', { scope: 'openid accounts' }, 'invalid_scope'],
    ['two consent scopes', { scope: `openid consent:${consentId} consent:urn:${URN_PREFIX}:other` }, 'invalid_scope'],
    ['an unknown consent', { scope: `openid accounts consent:urn:${URN_PREFIX}:unknown` }, 'invalid_request'],
    ['id_token_hint', { id_token_hint: 'eyJhbGciOiJub25lIn0.e30.' }, 'invalid_request'],
  ];
  for (const [name, overrides, error] of cases) {
    const res = await pushConsent(h, consentId, 'client-one', overrides);
    t.equal(res.status, 400, name);
    t.equal(res.json.error, error, `${name}: ${error}`);
  }
  const otherClient = await pushConsent(h, consentId, 'client-two');
  t.equal(otherClient.json.error, 'invalid_request', "another client's consent");
  const broader = await pushConsent(h, consentId, 'client-one', { scope: `openid accounts resources consent:${consentId}` });
  t.equal(broader.status, 201, 'a scope broader than the permissions need is not refused');
});

t.test('login: a customer other than the consent names → access_denied, REJECTED for a security reason', async (t) => {
  const consentId = await createConsent(h);
  const par = await pushConsent(h, consentId);
  const { redirect } = await authorizeConsent(h, par.pushed!, { username: 'bob', password: 'builder-pw' });
  t.equal(redirect?.searchParams.get('error'), 'access_denied');
  const read = await consentsCall(h, 'GET', path(consentId), { token: await clientToken(h) });
  t.same(read.json.data.rejection, { rejectedBy: 'ASPSP', reason: { code: 'INTERNAL_SECURITY_REASON' } });

  const business = await createConsent(h, 'client-one', { businessEntity: { document: { identification: '98765432000198', rel: 'CNPJ' } } });
  const parBusiness = await pushConsent(h, business);
  const denied = await authorizeConsent(h, parBusiness.pushed!);
  t.equal(denied.redirect?.searchParams.get('error'), 'access_denied', 'a CNPJ the customer does not hold');
});

t.test('the customer denies: REJECTED, CUSTOMER_MANUALLY_REJECTED', async (t) => {
  const consentId = await createConsent(h);
  const par = await pushConsent(h, consentId);
  const { redirect } = await authorizeConsent(h, par.pushed!, { decision: 'deny' });
  t.equal(redirect?.searchParams.get('error'), 'access_denied');
  const read = await consentsCall(h, 'GET', path(consentId), { token: await clientToken(h) });
  t.equal(read.json.data.status, 'REJECTED');
  t.same(read.json.data.rejection, { rejectedBy: 'USER', reason: { code: 'CUSTOMER_MANUALLY_REJECTED' } });
});

t.test('approval: AUTHORISED, tokens carry the consent, PS256, refresh token never rotated', async (t) => {
  const consentId = await createConsent(h);
  const par = await pushConsent(h, consentId);
  const { redirect } = await authorizeConsent(h, par.pushed!, { accounts: ['acc-0002'] });
  const code = redirect!.searchParams.get('code')!;
  const tokens = (await redeemCode(h, code, par.pushed!)).json;
  t.ok(tokens.expires_in >= 300 && tokens.expires_in <= 900, 'expires_in within 300–900');
  t.ok(tokens.refresh_token, 'a refresh token');
  const claims = decodeJwt(tokens.access_token);
  t.equal(claims.consent_id, consentId, 'the access token carries consent_id');
  t.equal(decodeProtectedHeader(tokens.access_token).alg, 'PS256');
  t.equal(decodeProtectedHeader(tokens.id_token).alg, 'PS256');
  t.equal(decodeJwt(tokens.id_token).acr, 'urn:brasil:openbanking:loa2', 'acr in the ID token');
  const grant = await h.gateway.context.grants.get(claims.grant_id as string);
  t.same(grant?.extensions.brazil, { consentId, permissions: ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ', 'CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ'], accountIds: ['acc-0002'] });
  const read = await consentsCall(h, 'GET', path(consentId), { token: await clientToken(h) });
  t.equal(read.json.data.status, 'AUTHORISED');

  const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await auth(h)) });
  t.equal(refreshed.status, 200);
  t.notOk(refreshed.json.refresh_token, 'no new refresh token: not rotated');
  const again = await h.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await auth(h)) });
  t.equal(again.status, 200, 'the same refresh token keeps working');

  const secondUse = await pushConsent(h, consentId);
  t.equal(secondUse.json.error, 'invalid_request', 'an authorised consent cannot be authorised again');
});

t.test('an account must be chosen when the consent covers accounts', async (t) => {
  const consentId = await createConsent(h);
  const par = await pushConsent(h, consentId);
  const { page } = await authorizeConsent(h, par.pushed!, { accounts: [] });
  t.equal(page?.status, 400);
  t.match(page?.text, 'Choose at least one account.');
});

t.test('the TPP revokes: every token refused at once, client_credentials tokens untouched', async (t) => {
  const ccToken = await clientToken(h);
  const { consentId, tokens } = await consentFlow(h);
  t.equal((await userinfo(h, tokens.access_token)).status, 200);
  const deleted = await consentsCall(h, 'DELETE', path(consentId), { token: ccToken });
  t.equal(deleted.status, 204);
  t.equal((await userinfo(h, tokens.access_token)).status, 401, 'the access token is refused');
  const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await auth(h)) });
  t.equal(refreshed.status, 400);
  t.equal(refreshed.json.error, 'invalid_grant', 'the refresh token is refused');
  const read = await consentsCall(h, 'GET', path(consentId), { token: ccToken });
  t.same(read.json.data.rejection, { rejectedBy: 'USER', reason: { code: 'CUSTOMER_MANUALLY_REVOKED' } });
  t.equal((await consentsCall(h, 'POST', '', { token: ccToken, body: consentBody() })).status, 201, 'the client_credentials token still works');
  t.ok(h.logs.some((l) => l.includes('"audit":"consent_rejected_customer_manually_revoked"')), 'audited');
  const metrics = await (await request(`http://127.0.0.1:${h.gateway.context.config.listeners.ops.port}/metrics`)).body.text();
  t.match(metrics, /fapi_gateway_brazil_consent_transitions_total\{transition="rejected_customer_manually_revoked"\} [1-9]/, 'counted');
});

t.test('the consent revoked while the customer looks at the consent page: approval ends in access_denied', async (t) => {
  const { browserRequest, CookieJar, formOf } = await import('./helpers/flow.js');
  const consentId = await createConsent(h);
  const par = await pushConsent(h, consentId);
  const jar = new CookieJar();
  const loginPage = await browserRequest(h, jar, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: par.pushed!.requestUri })}`);
  const login = formOf(loginPage.text);
  const signedIn = await browserRequest(h, jar, login.action, { csrf: login.csrf, username: 'alice', password: 'wonderland', action: 'login' });
  const consentPage = await browserRequest(h, jar, signedIn.headers.location as string);
  t.equal(consentPage.status, 200);
  t.equal((await consentsCall(h, 'DELETE', path(consentId), { token: await clientToken(h) })).status, 204, 'the TPP deletes the consent meanwhile');
  const form = formOf(consentPage.text);
  const done = await browserRequest(h, jar, form.action, { csrf: form.csrf, decision: 'approve', 'account-0': 'acc-0001' });
  t.equal(done.status, 303);
  t.equal(new URL(done.headers.location as string).searchParams.get('error'), 'access_denied', 'the client hears access_denied');
});

t.test('PAR refuses the payments scope when payments are not configured', async (t) => {
  const withPayments = await startBrazil({ configure: (config) => void (config.clients[0].scope += ' payments') });
  t.teardown(() => withPayments.close());
  const consentId = await createConsent(withPayments);
  const res = await pushConsent(withPayments, consentId, 'client-one', { scope: `openid payments consent:${consentId}` });
  t.equal(res.status, 400);
  t.equal(res.json.error, 'invalid_scope');
});

t.test('Consents API: oversized, poisoned and mistyped bodies are refused in the envelope, never a 5xx', async (t) => {
  const token = await clientToken(h);
  const cases: [string, string, Record<string, string>, number][] = [
    ['over 16 KiB', JSON.stringify(consentBody({ filler: 'x'.repeat(20_000) })), {}, 413],
    ['__proto__ in the body', '{"__proto__":{"x":1},"data":{}}', {}, 400],
    ['broken JSON', '{"data":', {}, 400],
    ['a form instead of JSON', 'data=1', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ['permissions not strings', JSON.stringify(consentBody({ permissions: [1, 2] })), {}, 400],
    ['permissions too many', JSON.stringify(consentBody({ permissions: Array.from({ length: 101 }, () => 'ACCOUNTS_READ') })), {}, 400],
  ];
  for (const [name, body, headers, status] of cases) {
    const res = await consentsCall(h, 'POST', '', { token, body, headers });
    t.equal(res.status, status, `${name}: ${status}`);
    t.ok(Array.isArray(res.json?.errors), `${name}: the OFB envelope`);
  }
});

t.test('a browser session is checked too: the signed-in customer against another CPF\'s consent', async (t) => {
  const { browserRequest, CookieJar, formOf } = await import('./helpers/flow.js');
  const { BOB_CPF } = await import('./helpers/brazil.js');
  const jar = new CookieJar();
  const first = await pushConsent(h, await createConsent(h));
  const loginPage = await browserRequest(h, jar, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: first.pushed!.requestUri })}`);
  const login = formOf(loginPage.text);
  const signedIn = await browserRequest(h, jar, login.action, { csrf: login.csrf, username: 'alice', password: 'wonderland', action: 'login' });
  t.equal(signedIn.status, 303, 'alice signs in (a session starts)');
  const bobsConsent = await createConsent(h, 'client-one', { loggedUser: { document: { identification: BOB_CPF, rel: 'CPF' } } });
  const second = await pushConsent(h, bobsConsent);
  const answer = await browserRequest(h, jar, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: second.pushed!.requestUri })}`);
  t.equal(answer.status, 303, 'no page: straight back to the client');
  t.equal(new URL(answer.headers.location as string).searchParams.get('error'), 'access_denied');
  const read = await consentsCall(h, 'GET', path(bobsConsent), { token: await clientToken(h) });
  t.same(read.json.data.rejection, { rejectedBy: 'ASPSP', reason: { code: 'INTERNAL_SECURITY_REASON' } });
});

t.test('the consent revoked between the approval\'s read and its commit: access_denied, no code, no grant, REJECTED', async (t) => {
  const { MemoryStore } = await import('../src/store/memory.js');
  const { startGateway } = await import('./helpers/harness.js');
  const { brazilConfig, ps256Keys } = await import('./helpers/brazil.js');
  type Steps = Parameters<InstanceType<typeof MemoryStore>['sequence']>[0];
  const AUTHORISED = '\u0000authorised';
  // The TPP's deletion lands just before the approval's transition is written: its ended marker first.
  class RevokedMeanwhile extends MemoryStore {
    armed = false;
    override async sequence(steps: Steps) {
      const first = steps[0];
      if (this.armed && 'set' in first && first.set === 'eco-consent-state' && first.id.endsWith(AUTHORISED)) {
        this.armed = false;
        const consentId = first.id.slice(0, -AUTHORISED.length);
        await this.set('eco-consent-state', `${consentId}\u0000ended`, { at: Math.floor(Date.now() / 1000), rejectedBy: 'USER', reason: 'CUSTOMER_MANUALLY_REJECTED' }, 600);
      }
      return super.sequence(steps);
    }
  }
  const store = new RevokedMeanwhile();
  const serverKeys = await ps256Keys();
  const raced = await startGateway({ configure: (config) => brazilConfig(config, serverKeys), gatewayOptions: { store } });
  t.teardown(() => raced.close());
  const consentId = await createConsent(raced);
  const par = await pushConsent(raced, consentId);
  store.armed = true;
  const grantsBefore = (await store.indexMembers('grants-by-client', 'client-one')).length;
  const { redirect } = await authorizeConsent(raced, par.pushed!, { accounts: ['acc-0001'] });
  t.notOk(store.armed, 'the approval reached its commit');
  t.equal(redirect?.searchParams.get('error'), 'access_denied', 'the client hears access_denied');
  t.equal(redirect?.searchParams.get('code'), null, 'no code');
  t.equal(redirect?.searchParams.get('state'), par.pushed!.state, 'with its state');
  const indexed = await store.indexMembers('grants-by-client', 'client-one');
  t.equal(indexed.length, grantsBefore + 1, 'the grant was written with the commit');
  t.equal(await store.get('grant', indexed.at(-1)!), undefined, 'and discarded');
  const read = await consentsCall(raced, 'GET', path(consentId), { token: await clientToken(raced) });
  t.equal(read.json.data.status, 'REJECTED', 'the deletion stands');
  t.ok(raced.logs.some((l) => l.includes('"audit":"authorization_refused"')), 'the refusal is audited');
  const again = await raced.get(`${raced.issuer}/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: par.pushed!.requestUri })}`, { client: null });
  t.equal(again.status, 400, 'the request_uri was consumed');
});
