import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { derivedProfile } from './helpers/derived-profile.js';
import { freePort, startGateway, type Harness } from './helpers/harness.js';
import { grantToken, startSampleBank } from './helpers/resource-tokens.js';
import { recordingUpstream } from './helpers/upstream.js';

const ACCOUNTS = '/open-banking/accounts/v2/accounts';
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

let profile: string;
let h: Harness;
let bank: Awaited<ReturnType<typeof startSampleBank>>;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;

const consent = (permissions: string[], accountIds?: string[]) => ({
  brazil: { consentId: `urn:bancoexemplo:${randomUUID()}`, permissions, ...(accountIds ? { accountIds } : {}) },
});

t.before(async () => {
  profile = await derivedProfile({ name: 'brazil-resources-test', ecosystem: 'brazil' });
  bank = await startSampleBank();
  upstream = await recordingUpstream();
  const refused = await freePort();
  h = await startGateway({
    configure: (config) => {
      config.profile = profile;
      config.ecosystem = { bankUrnPrefix: 'bancoexemplo' };
      config.routes = [
        { prefix: ACCOUNTS, upstream: bank.url, scopes: ['accounts'], ecosystem: { permissions: ['ACCOUNTS_READ'], version: '2.4.2' } },
        { prefix: '/open-banking/credit-cards-accounts/v2/accounts', upstream: upstream.url, scopes: ['credit-cards-accounts'], timeoutMs: 1000, ecosystem: { permissions: ['CREDIT_CARDS_ACCOUNTS_READ'], version: '2.3.1' } },
        { prefix: '/open-banking/loans/v2/contracts', upstream: `http://127.0.0.1:${refused}`, scopes: ['loans'], ecosystem: { permissions: ['LOANS_READ'], version: '2.2.0' } },
        { prefix: '/plain', upstream: upstream.url, scopes: [] },
        { prefix: '/open-banking/products-services/v1', upstream: upstream.url, scopes: [], ecosystem: { permissions: [], version: '1.0.0' } },
      ];
    },
  });
});
t.teardown(async () => {
  await h.close();
  await bank.app.close();
  await upstream.close();
});

const call = (path: string, token: string, headers: Record<string, string> = { 'x-fapi-interaction-id': randomUUID() }) =>
  h.get(`${h.mtlsBase}${path}`, { client: 'client-one', headers: { authorization: `Bearer ${token}`, ...headers } });

function isOfbError(t: Test, res: Awaited<ReturnType<typeof call>>, status: number, code?: string) {
  t.equal(res.status, status, res.text);
  t.equal(res.json?.errors?.length, 1, res.text);
  if (code) t.equal(res.json.errors[0].code, code);
  t.type(res.json?.errors?.[0]?.title, 'string');
  t.type(res.json?.errors?.[0]?.detail, 'string');
  t.match(res.json?.meta?.requestDateTime, TIMESTAMP);
  t.equal(res.headers['cache-control'], 'no-store');
  t.ok(res.headers['x-fapi-interaction-id']);
}

t.test('the accounts API through the gateway: the consent passed upstream, only its accounts shown, x-v and the interaction id returned', async (t) => {
  const { token, grant } = await grantToken(h, { scope: 'openid accounts', extensions: consent(['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ'], ['br-conta-0001']) });
  const id = randomUUID();
  const res = await call(ACCOUNTS, token, { 'x-fapi-interaction-id': id });
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['x-fapi-interaction-id'], id);
  t.equal(res.headers['x-v'], '2.4.2');
  t.same(res.json.data.map((a: { accountId: string }) => a.accountId), ['br-conta-0001']);
  t.match(res.json.data[0], { brandName: String, companyCnpj: String, type: 'CONTA_DEPOSITO_A_VISTA', compeCode: String, branchCode: String, number: String, checkDigit: String });
  t.match(res.json.meta.requestDateTime, TIMESTAMP);
  const balances = await call(`${ACCOUNTS}/br-conta-0001/balances`, token);
  t.equal(balances.status, 200, balances.text);
  t.match(balances.json.data, { availableAmount: { amount: '1523.4000', currency: 'BRL' } });
  const notChosen = await call(`${ACCOUNTS}/br-poupanca-0002/balances`, token);
  t.equal(notChosen.status, 404, 'an account outside the consent is not shown');

  upstream.received.length = 0;
  const cards = await grantToken(h, { scope: 'credit-cards-accounts', extensions: consent(['CREDIT_CARDS_ACCOUNTS_READ'], ['c-1', 'c-2']) });
  t.equal((await call('/open-banking/credit-cards-accounts/v2/accounts', cards.token)).status, 200);
  const got = upstream.received.at(-1)!.headers;
  t.equal(got['x-authenticated-consent-id'], (cards.grant.extensions.brazil as { consentId: string }).consentId);
  t.equal(got['x-authenticated-account-ids'], 'c-1,c-2');
  t.equal(got['x-v'], '2.3.1');
  void grant;
});

t.test('a consent without an account choice shows every account', async (t) => {
  const { token } = await grantToken(h, { scope: 'accounts', extensions: consent(['ACCOUNTS_READ']) });
  const res = await call(ACCOUNTS, token);
  t.equal(res.json.data.length, 2);
});

t.test('x-fapi-interaction-id is mandatory: missing or not a UUID → 400 with a fresh id in the answer', async (t) => {
  const { token } = await grantToken(h, { scope: 'accounts', extensions: consent(['ACCOUNTS_READ']) });
  const missing = await call(ACCOUNTS, token, {});
  isOfbError(t, missing, 400, 'PARAMETRO_NAO_INFORMADO');
  t.match(missing.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
  const bad = await call(ACCOUNTS, token, { 'x-fapi-interaction-id': 'corr-123' });
  isOfbError(t, bad, 400, 'PARAMETRO_INVALIDO');
  t.not(bad.headers['x-fapi-interaction-id'], 'corr-123');
  t.match(bad.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
  // Checked before the token.
  const noToken = await h.get(`${h.mtlsBase}${ACCOUNTS}`, { client: 'client-one' });
  isOfbError(t, noToken, 400, 'PARAMETRO_NAO_INFORMADO');
});

t.test('permissions: a consent without the route permission → 403; a grant gone or expired → 401', async (t) => {
  const without = await grantToken(h, { scope: 'accounts', extensions: consent(['CREDIT_CARDS_ACCOUNTS_READ', 'RESOURCES_READ']) });
  const refused = await call(ACCOUNTS, without.token);
  isOfbError(t, refused, 403, 'PERMISSAO_INSUFICIENTE');
  t.match(refused.json.errors[0].detail, /ACCOUNTS_READ/);
  t.ok(h.logs.some((line) => line.includes('"audit":"consent_permission_refused"')), 'audited');
  const noConsent = await grantToken(h, { scope: 'accounts' });
  isOfbError(t, await call(ACCOUNTS, noConsent.token), 403, 'PERMISSAO_INSUFICIENTE');

  const revoked = await grantToken(h, { scope: 'accounts', extensions: consent(['ACCOUNTS_READ']) });
  t.equal((await call(ACCOUNTS, revoked.token)).status, 200);
  await h.gateway.context.grants.end(revoked.grant.id);
  const ended = await call(ACCOUNTS, revoked.token);
  isOfbError(t, ended, 401, 'NAO_AUTORIZADO');
  t.match(ended.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  const gone = await grantToken(h, { scope: 'accounts', extensions: consent(['ACCOUNTS_READ']) });
  await h.gateway.context.grants.discard(gone.grant.id);
  const goneRes = await call(ACCOUNTS, gone.token);
  isOfbError(t, goneRes, 401, 'NAO_AUTORIZADO');
  t.match(goneRes.headers['www-authenticate'], /invalid_token/);
  const expired = await grantToken(h, { scope: 'accounts', extensions: consent(['ACCOUNTS_READ']), expiresAt: Math.floor(Date.now() / 1000) - 1 });
  isOfbError(t, await call(ACCOUNTS, expired.token), 401, 'NAO_AUTORIZADO');
  // The route's scope still applies.
  const noScope = await grantToken(h, { scope: 'loans', extensions: consent(['ACCOUNTS_READ']) });
  const scopeRes = await call(ACCOUNTS, noScope.token);
  isOfbError(t, scopeRes, 403);
  t.match(scopeRes.headers['www-authenticate'], /insufficient_scope/);
});

t.test('every gateway error in the OFB envelope: token, 405, 406, 502, 504', async (t) => {
  const { token } = await grantToken(h, { scope: 'accounts credit-cards-accounts loans', extensions: consent(['ACCOUNTS_READ', 'CREDIT_CARDS_ACCOUNTS_READ', 'LOANS_READ']) });
  const garbage = await call(ACCOUNTS, 'abc.def.ghi');
  isOfbError(t, garbage, 401, 'NAO_AUTORIZADO');
  t.match(garbage.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  const post = await h.post(ACCOUNTS, '{}', { client: 'client-one', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() } });
  isOfbError(t, post, 405, 'METODO_NAO_PERMITIDO');
  t.equal(post.headers.allow, 'GET');
  isOfbError(t, await call(ACCOUNTS, token, { 'x-fapi-interaction-id': randomUUID(), accept: 'text/html' }), 406, 'NAO_ACEITAVEL');
  isOfbError(t, await call('/open-banking/loans/v2/contracts', token), 502, 'ERRO_GATEWAY');
  isOfbError(t, await call('/open-banking/credit-cards-accounts/v2/accounts/slow', token), 504, 'TEMPO_ESGOTADO');
  const authDate = await call(ACCOUNTS, token, { 'x-fapi-interaction-id': randomUUID(), 'x-fapi-auth-date': 'yesterday' });
  isOfbError(t, authDate, 400, 'PARAMETRO_INVALIDO');
});

t.test('a path under /open-banking that nothing serves: 404 in the OFB envelope; elsewhere the baseline 404', async (t) => {
  const { token } = await grantToken(h, { scope: 'accounts' });
  isOfbError(t, await call('/open-banking/nothing/v1/here', token), 404, 'NAO_ENCONTRADO');
  isOfbError(t, await call('/open-banking', token), 404, 'NAO_ENCONTRADO');
  const outside = await call('/elsewhere', token);
  t.equal(outside.status, 404);
  t.equal(outside.json.error, 'invalid_request');
});

t.test('refusals are counted by route, stage and status', async (t) => {
  const without = await grantToken(h, { scope: 'accounts', extensions: consent(['RESOURCES_READ']) });
  await call(ACCOUNTS, without.token);
  await call(ACCOUNTS, without.token, {});
  const text = await h.gateway.context.metrics!.registry.metrics();
  t.match(text, /fapi_gateway_resource_convention_refusals_total\{route="\/open-banking\/accounts\/v2\/accounts",stage="grant",status="403"\} [1-9]/);
  t.match(text, /fapi_gateway_resource_convention_refusals_total\{route="\/open-banking\/accounts\/v2\/accounts",stage="headers",status="400"\} [1-9]/);
});

t.test('a route that needs no permission needs no consent, but a live grant and the OFB headers', async (t) => {
  upstream.received.length = 0;
  const plain = await grantToken(h, { scope: 'accounts' });
  const res = await call('/open-banking/products-services/v1/banks', plain.token);
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['x-v'], '1.0.0');
  t.notOk(upstream.received.at(-1)?.headers['x-authenticated-consent-id']);
  isOfbError(t, await call('/open-banking/products-services/v1/banks', plain.token, {}), 400, 'PARAMETRO_NAO_INFORMADO');
  await h.gateway.context.grants.discard(plain.grant.id);
  isOfbError(t, await call('/open-banking/products-services/v1/banks', plain.token), 401, 'NAO_AUTORIZADO');
});

t.test('a route without ecosystem settings keeps the baseline behaviour', async (t) => {
  const { token } = await grantToken(h, { scope: 'accounts' });
  const res = await call('/plain', token, {});
  t.equal(res.status, 200);
  t.match(res.headers['x-fapi-interaction-id'], /^[0-9a-f-]{36}$/);
  const refused = await call('/plain', 'abc.def.ghi', {});
  t.equal(refused.json.error, 'invalid_token');
});

t.test('route settings are checked at start and named', async (t) => {
  const bad: [unknown, string][] = [
    [{ version: '2.4.2' }, 'routes[0].ecosystem.permissions'],
    [{ permissions: ['accounts read'], version: '2.4.2' }, 'routes[0].ecosystem.permissions'],
    [{ permissions: ['ACCOUNTS_READ'] }, 'routes[0].ecosystem.version'],
    [{ permissions: ['ACCOUNTS_READ'], version: 'v2' }, 'routes[0].ecosystem.version'],
    [{ permissions: ['ACCOUNTS_READ'], version: '2.0.0', extra: 1 }, 'routes[0].ecosystem.extra'],
  ];
  for (const [ecosystem, keyPath] of bad) {
    await t.rejects(
      startGateway({
        configure: (config) => {
          config.profile = profile;
          config.ecosystem = { bankUrnPrefix: 'bancoexemplo' };
          config.routes = [{ prefix: ACCOUNTS, upstream: bank.url, ecosystem }];
        },
      }),
      { keyPath } as unknown as Error,
      JSON.stringify(ecosystem),
    );
  }
  await t.rejects(
    startGateway({ configure: (config) => void (config.routes = [{ prefix: '/accounts', upstream: bank.url, ecosystem: { versions: [1] } }]) }),
    { keyPath: 'routes[0].ecosystem' } as unknown as Error,
    'a profile without a pack takes no route settings',
  );
});
