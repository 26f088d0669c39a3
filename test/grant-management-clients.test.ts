// OpenID Grant Management for OAuth 2.0, for clients, on a profile that enables it: grant_id in token
// responses, create/merge/replace at PAR, GET and DELETE /grants/{grant_id}, discovery, and every
// refusal; the baseline profile offers none of it.
import t from 'tap';
import { amendedGrant } from '../src/grants/management/client-grant-management.js';
import { derivedProfile } from './helpers/derived-profile.js';
import { request } from 'undici';
import { GrantManagement } from '../src/grants/management/grant-management.js';
import { startGateway, parForm, readResponse, type Harness, type ClientName } from './helpers/harness.js';
import { authorize, clientPost, fullFlow, push, redeem, refresh, userinfo } from './helpers/flow.js';

t.setTimeout(240_000);
const MANAGEMENT_SCOPES = 'grant_management_query grant_management_revoke';

async function gateway(grantManagement: Record<string, unknown>): Promise<Harness> {
  const profile = await derivedProfile({ name: 'fapi2-grant-management-test', grantManagement });
  return startGateway({
    configure(config) {
      config.profile = profile;
      for (const client of config.clients) client.scope += ` ${MANAGEMENT_SCOPES}`;
    },
  });
}

async function managementToken(h: Harness, client: ClientName, scope: string): Promise<string> {
  const res = await clientPost(h, '/token', { grant_type: 'client_credentials', scope }, client);
  if (res.status !== 200) throw new Error(`token: ${res.status} ${res.text}`);
  return res.json.access_token;
}

async function grants(h: Harness, method: 'GET' | 'DELETE', id: string, token?: string, client: ClientName = 'client-one') {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  return readResponse(await request(`${h.mtlsBase}/grants/${id}`, { method, dispatcher: h.agent(client), headers }));
}

async function parError(h: Harness, overrides: Record<string, string | undefined>) {
  const res = await h.post('/par', { ...parForm(overrides), ...(await h.assertionForm()) });
  return { status: res.status, error: res.json?.error, noStore: res.headers['cache-control'] === 'no-store' };
}

t.test('the baseline profile offers no grant management', async (t) => {
  const h = await startGateway();
  t.teardown(() => h.close());
  const discovery = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  t.notOk('grant_management_endpoint' in discovery.json);
  const { tokens } = await fullFlow(h);
  t.notOk('grant_id' in tokens);
  const pushed = await push(h, 'client-one', { grant_management_action: 'merge', grant_id: 'whatever' });
  t.ok(pushed.requestUri, 'the parameters are ignored, as unknown ones are');
});

t.test('grant management for clients', async (t) => {
  const h = await gateway({ enabled: true });
  t.teardown(() => h.close());

  await t.test('discovery', async (t) => {
    const discovery = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
    t.equal(discovery.grant_management_endpoint, `${h.mtlsBase}/grants`);
    t.same(discovery.grant_management_actions_supported, ['query', 'revoke', 'create', 'merge', 'replace']);
    t.equal(discovery.grant_management_action_required, false);
  });

  const created = await fullFlow(h, 'client-one', { grant_management_action: 'create' });
  const grantId = created.tokens.grant_id as string;

  await t.test('grant_id in token responses, and the grant queried', async (t) => {
    t.match(grantId, /^[A-Za-z0-9_-]{22}$/);
    t.equal((await fullFlow(h)).tokens.grant_id !== undefined, true, 'also without an action');
    const refreshed = await refresh(h, created.tokens.refresh_token);
    t.equal(refreshed.json.grant_id, grantId, 'and on refresh');
    const cc = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'grant_management_query' });
    t.notOk('grant_id' in cc.json, 'a client_credentials token names no grant');
    const query = await grants(h, 'GET', grantId, await managementToken(h, 'client-one', 'grant_management_query'));
    t.equal(query.status, 200);
    t.equal(query.headers['cache-control'], 'no-store');
    t.same(query.json, { scopes: [{ scope: 'openid accounts' }] });
  });

  await t.test('merge adds to the grant, under the same id', async (t) => {
    const pushed = await push(h, 'client-one', { grant_management_action: 'merge', grant_id: grantId, scope: 'openid transactions' });
    const code = (await authorize(h, pushed)).searchParams.get('code')!;
    const tokens = (await redeem(h, code, pushed)).json;
    t.equal(tokens.grant_id, grantId);
    t.same(tokens.scope.split(' ').sort(), ['accounts', 'openid', 'transactions']);
    const query = await grants(h, 'GET', grantId, await managementToken(h, 'client-one', 'grant_management_query'));
    t.same(query.json.scopes[0].scope.split(' ').sort(), ['accounts', 'openid', 'transactions']);
    t.equal((await userinfo(h, created.tokens.access_token)).status, 200, 'earlier tokens of the grant still work');
  });

  await t.test('replace leaves only what was approved; an older refresh token gives no more', async (t) => {
    const pushed = await push(h, 'client-one', { grant_management_action: 'replace', grant_id: grantId, scope: 'openid profile' });
    const code = (await authorize(h, pushed)).searchParams.get('code')!;
    const tokens = (await redeem(h, code, pushed)).json;
    t.equal(tokens.grant_id, grantId);
    t.equal(tokens.scope, 'openid profile');
    const older = await refresh(h, created.tokens.refresh_token);
    t.equal(older.status, 200);
    t.equal(older.json.scope, 'openid', 'only what the grant still holds');
  });

  await t.test('refusals at PAR', async (t) => {
    const other = (await fullFlow(h, 'client-two')).tokens.grant_id as string;
    const cases: [string, Record<string, string | undefined>, string][] = [
      ['an unknown action', { grant_management_action: 'update' }, 'invalid_request'],
      ['create with a grant_id', { grant_management_action: 'create', grant_id: grantId }, 'invalid_request'],
      ['merge without a grant_id', { grant_management_action: 'merge' }, 'invalid_request'],
      ['replace without a grant_id', { grant_management_action: 'replace' }, 'invalid_request'],
      ['a grant_id without an action', { grant_id: grantId }, 'invalid_request'],
      ['an unknown grant', { grant_management_action: 'merge', grant_id: 'AAAAAAAAAAAAAAAAAAAAAA' }, 'invalid_grant_id'],
      ['a malformed grant id', { grant_management_action: 'replace', grant_id: 'not an id' }, 'invalid_grant_id'],
      ["another client's grant", { grant_management_action: 'merge', grant_id: other }, 'invalid_grant_id'],
    ];
    for (const [what, overrides, error] of cases) {
      const res = await parError(h, overrides);
      t.same(res, { status: 400, error, noStore: true }, what);
    }
  });

  await t.test("at approval: another customer's grant is refused", async (t) => {
    const ctx = h.gateway.context;
    const mine = await ctx.grants.get(grantId);
    const request = { grantManagement: { action: 'merge' as const, grantId } } as never;
    for (const approved of [{ ...mine!, id: 'new', sub: 'someone-else' }, { ...mine!, id: 'new', clientId: 'client-two' }]) {
      const refused = await amendedGrant(ctx, request, approved).then(() => undefined, (err: { error?: string }) => err);
      t.equal(refused?.error, 'invalid_grant_id');
    }
  });

  await t.test('/grants refusals, then revoke', async (t) => {
    const query = await managementToken(h, 'client-one', 'grant_management_query');
    const revoke = await managementToken(h, 'client-one', 'grant_management_revoke');
    const otherClient = await managementToken(h, 'client-two', MANAGEMENT_SCOPES);
    const cases: [string, Awaited<ReturnType<typeof grants>>, number, string | undefined][] = [
      ['no token', await grants(h, 'GET', grantId), 401, undefined],
      ['a token without the query scope', await grants(h, 'GET', grantId, revoke), 403, 'insufficient_scope'],
      ['revoking without the revoke scope', await grants(h, 'DELETE', grantId, query), 403, 'insufficient_scope'],
      ['another client', await grants(h, 'GET', grantId, otherClient, 'client-two'), 404, 'invalid_grant_id'],
      ['another client revoking', await grants(h, 'DELETE', grantId, otherClient, 'client-two'), 404, 'invalid_grant_id'],
      ['an unknown grant', await grants(h, 'GET', 'AAAAAAAAAAAAAAAAAAAAAA', query), 404, 'invalid_grant_id'],
      ['a malformed id', await grants(h, 'GET', 'a.b', query), 404, 'invalid_grant_id'],
      ['a token over another certificate', await grants(h, 'GET', grantId, query, 'client-two'), 401, 'invalid_token'],
    ];
    for (const [what, res, status, error] of cases) {
      t.equal(res.status, status, `${what}: ${status}`);
      t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`);
      if (error) t.equal(res.json?.error, error, `${what}: ${error}`);
    }
    const post = await h.post(`/grants/${grantId}`, {});
    t.equal(post.status, 405);
    t.equal((await userinfo(h, created.tokens.access_token)).status, 200, 'untouched by the refusals');

    const revoked = await grants(h, 'DELETE', grantId, revoke);
    t.equal(revoked.status, 204);
    t.equal((await userinfo(h, created.tokens.access_token)).status, 401, "the grant's tokens end");
    t.equal((await refresh(h, created.tokens.refresh_token)).status, 400);
    t.equal((await grants(h, 'GET', grantId, query)).status, 404, 'gone');
    t.same((await new GrantManagement(h.gateway.context).trail(grantId))!.map((e) => [e.event, e.by ?? null]), [
      ['created', null],
      ['refreshed', null],
      ['amended', null],
      ['amended', null],
      ['refreshed', null],
      ['revoked', 'client'],
    ]);
    t.match(h.logs.map((l) => JSON.parse(l)).find((l) => l.audit === 'grant_revoked'), { client_id: 'client-one', grant_id: grantId, outcome: 'success' });
  });
});

t.test('a profile that requires an action', async (t) => {
  const h = await gateway({ enabled: true, actionRequired: true });
  t.teardown(() => h.close());
  t.same(await parError(h, {}), { status: 400, error: 'invalid_request', noStore: true });
  const discovery = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.equal(discovery.grant_management_action_required, true);
  t.ok((await push(h, 'client-one', { grant_management_action: 'create' })).requestUri);
});
