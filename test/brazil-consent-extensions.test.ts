import t from 'tap';
import { randomUUID } from 'node:crypto';
import { ALICE_CPF, auth, authorizeConsent, clientToken, consentsCall, createConsent, pushConsent, redeemCode, startBrazil } from './helpers/brazil.js';
import type { Response } from './helpers/harness.js';

// profile: brazil over real TLS: consent extensions (Consents API v3, POST /consents/{id}/extends
// with the consent's own authorization-code token, GET /consents/{id}/extensions with a
// client_credentials token), the OFB rules on the new end, and the tokens living as long as it.

const h = await startBrazil();
t.teardown(() => h.close());
const path = (id: string) => '/' + encodeURIComponent(id);
const ofbTime = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const now = () => Math.floor(Date.now() / 1000);
const CUSTOMER_HEADERS = { 'x-fapi-customer-ip-address': '203.0.113.7', 'x-customer-user-agent': 'Mozilla/5.0 (TPP app)' };

/** An authorised consent (ending at `expiresAt` when given) and the tokens of its authorization. */
async function authorised(expiresAt?: number): Promise<{ consentId: string; tokens: Record<string, any> }> {
  const consentId = await createConsent(h, 'client-one', expiresAt === undefined ? {} : { expirationDateTime: ofbTime(expiresAt) });
  const pushed = await pushConsent(h, consentId);
  const { redirect } = await authorizeConsent(h, pushed.pushed!);
  const tokens = await redeemCode(h, redirect!.searchParams.get('code')!, pushed.pushed!);
  if (tokens.status !== 200) throw new Error(tokens.text);
  return { consentId, tokens: tokens.json };
}

function extend(consentId: string, token: string, data: Record<string, unknown> = {}, headers: Record<string, string> = CUSTOMER_HEADERS): Promise<Response> {
  return consentsCall(h, 'POST', `${path(consentId)}/extends`, { token, headers, body: { data: { loggedUser: { document: { identification: ALICE_CPF, rel: 'CPF' } }, ...data } } });
}

t.test('an authorised consent extended by its customer: the new end, listed, and the refresh token living on', async (t) => {
  const end = now() + 86_400;
  const { consentId, tokens } = await authorised(end);
  const newEnd = now() + 30 * 86_400;
  const res = await extend(consentId, tokens.access_token, { expirationDateTime: ofbTime(newEnd) });
  t.equal(res.status, 201, res.text);
  t.equal(res.json.data.status, 'AUTHORISED');
  t.equal(res.json.data.expirationDateTime, ofbTime(newEnd));
  t.ok(res.headers['x-fapi-interaction-id'], 'the interaction id is echoed');
  t.equal(res.headers['cache-control'], 'no-store');

  const read = await consentsCall(h, 'GET', path(consentId), { token: await clientToken(h) });
  t.equal(read.json.data.expirationDateTime, ofbTime(newEnd), 'GET shows the new end');

  const indefinite = await extend(consentId, tokens.access_token);
  t.equal(indefinite.status, 201, 'no expirationDateTime: indefinite');
  t.notOk('expirationDateTime' in indefinite.json.data);

  const list = await consentsCall(h, 'GET', `${path(consentId)}/extensions`, { token: await clientToken(h) });
  t.equal(list.status, 200, list.text);
  t.equal(list.json.meta.totalRecords, 2);
  t.notOk('expirationDateTime' in list.json.data[0], 'newest first: the indefinite one');
  t.equal(list.json.data[0].previousExpirationDateTime, ofbTime(newEnd));
  t.equal(list.json.data[1].expirationDateTime, ofbTime(newEnd));
  t.equal(list.json.data[1].previousExpirationDateTime, ofbTime(end));
  t.same(list.json.data[1].loggedUser, { document: { identification: ALICE_CPF, rel: 'CPF' } });
  t.equal(list.json.data[1].xFapiCustomerIpAddress, '203.0.113.7');
  t.equal(list.json.data[1].xCustomerUserAgent, 'Mozilla/5.0 (TPP app)');

  const refreshed = await h.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await auth(h)) }, { client: 'client-one' });
  t.equal(refreshed.status, 200, 'the refresh token still works');
  t.notOk(refreshed.json.refresh_token && refreshed.json.refresh_token !== tokens.refresh_token, 'and is not rotated');
});

t.test('extensions refused with the OFB codes', async (t) => {
  const { consentId, tokens } = await authorised(now() + 86_400);
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['an end in the past', () => extend(consentId, tokens.access_token, { expirationDateTime: ofbTime(now() - 60) }), 422, 'DATA_EXPIRACAO_INVALIDA'],
    ['an end more than a year ahead', () => extend(consentId, tokens.access_token, { expirationDateTime: ofbTime(now() + 400 * 86_400) }), 422, 'DATA_EXPIRACAO_INVALIDA'],
    ['an end before the current one', () => extend(consentId, tokens.access_token, { expirationDateTime: ofbTime(now() + 3600) }), 422, 'DATA_EXPIRACAO_INVALIDA'],
    ['a malformed end', () => extend(consentId, tokens.access_token, { expirationDateTime: 'tomorrow' }), 400, 'PARAMETRO_INVALIDO'],
    ['another customer', () => extend(consentId, tokens.access_token, { loggedUser: { document: { identification: '11122233344', rel: 'CPF' } } }), 403, 'FORBIDDEN'],
    ['no x-fapi-customer-ip-address', () => extend(consentId, tokens.access_token, {}, { 'x-customer-user-agent': 'ua' }), 400, 'PARAMETRO_NAO_INFORMADO'],
    ['no x-customer-user-agent', () => extend(consentId, tokens.access_token, {}, { 'x-fapi-customer-ip-address': '203.0.113.7' }), 400, 'PARAMETRO_NAO_INFORMADO'],
    ['a client_credentials token', async () => extend(consentId, await clientToken(h)), 403, 'FORBIDDEN'],
    ['no body', () => consentsCall(h, 'POST', `${path(consentId)}/extends`, { token: tokens.access_token, headers: CUSTOMER_HEADERS, body: {} }), 400, 'PARAMETRO_NAO_INFORMADO'],
  ];
  for (const [name, attempt, status, code] of cases) {
    const res = await attempt();
    t.equal(res.status, status, `${name}: ${status}`);
    t.equal(res.json?.errors?.[0]?.code, code, `${name}: ${code}`);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const other = await authorised();
  const foreign = await extend(consentId, other.tokens.access_token);
  t.equal(foreign.status, 403, "the token of another consent's authorization");
  const alreadyIndefinite = await extend(other.consentId, other.tokens.access_token);
  t.equal(alreadyIndefinite.json.errors[0].code, 'DATA_EXPIRACAO_INVALIDA', 'indefinite already: nothing to extend');

  const listByCustomerToken = await consentsCall(h, 'GET', `${path(consentId)}/extensions`, { token: tokens.access_token });
  t.equal(listByCustomerToken.status, 403, 'the list takes a client_credentials token');
  const listByOther = await consentsCall(h, 'GET', `${path(consentId)}/extensions`, { token: await clientToken(h, 'client-two'), client: 'client-two' });
  t.equal(listByOther.status, 403, "another client's consent");
  const unknown = await consentsCall(h, 'GET', `${path('urn:bancoexemplo:' + randomUUID())}/extensions`, { token: await clientToken(h) });
  t.equal(unknown.status, 404);
});

t.test('a revoked consent is not extended: its token is refused', async (t) => {
  const { consentId, tokens } = await authorised(now() + 86_400);
  t.equal((await consentsCall(h, 'DELETE', path(consentId), { token: await clientToken(h) })).status, 204);
  const res = await extend(consentId, tokens.access_token, { expirationDateTime: ofbTime(now() + 30 * 86_400) });
  t.equal(res.status, 401);
  t.equal(res.headers['cache-control'], 'no-store');
});

t.test('Consents.extend: only an AUTHORISED consent, and its grant ends with the new end', async (t) => {
  const { MemoryStore } = await import('../src/store/memory.js');
  const { Grants } = await import('../src/grants/grant.js');
  const { Consents, ConsentStateConflict } = await import('../src/ecosystems/brazil/consents/consents.js');
  const store = new MemoryStore();
  const grants = new Grants(store, { accessToken: 300, code: 60, maxSeconds: 365 * 86_400, refreshToken: () => 0 });
  const consents = new Consents({ store, grants, urnPrefix: 'bank', retentionSeconds: 600, maxGrantSeconds: 365 * 86_400 }, undefined);
  const record = { id: consents.newId(), clientId: 'tpp', loggedUser: { identification: ALICE_CPF, rel: 'CPF' }, permissions: ['RESOURCES_READ'], createdAt: now(), expiresAt: now() + 3600 };
  await consents.create(record);
  const extension = (expiresAt: number) => () => ({ at: now(), expiresAt, loggedUser: record.loggedUser, customerIpAddress: '::1', customerUserAgent: 'ua' });
  const conflict = (p: Promise<unknown>) => p.then(() => false, (err) => err instanceof ConsentStateConflict);
  t.ok(await conflict(consents.extend(record.id, extension(now() + 7200))), 'not while awaiting authorisation');
  const grant = { id: 'g1', clientId: 'tpp', sub: 'alice', scope: 'openid', createdAt: now(), expiresAt: record.expiresAt, extensions: {} };
  await grants.save(grant);
  await consents.authorise((await consents.read(record.id))!, { grantId: 'g1', accountIds: [] });
  const extended = await consents.extend(record.id, extension(now() + 7200));
  t.equal(extended.extensions?.length, 1);
  t.equal((await grants.get('g1'))?.expiresAt, extended.extensions![0].expiresAt, "the grant's end moved with the consent's");
  t.ok(await store.setIfAbsent('eco-consent-state', `${record.id}\u0000extending`, 1, 10));
  t.ok(await conflict(consents.extend(record.id, extension(now() + 9000))), 'one extension at a time');
  await store.delete('eco-consent-state', `${record.id}\u0000extending`);
  await consents.end((await consents.read(record.id))!, 'USER', 'CUSTOMER_MANUALLY_REVOKED');
  t.ok(await conflict(consents.extend(record.id, extension(now() + 9000))), 'not once rejected');
  t.equal((await consents.read(record.id))?.extensions?.length, 1, 'the extensions stay readable after the end');
});
