// The bank's grant management: the admin API (admin-scoped client_credentials tokens on the back
// channel, and its own mTLS listener with an admin CA), every refusal, the life trail, the ecosystem
// hook on withdrawal, and the settings that fail at start.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { resolveConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/config-error.js';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import { createContext } from '../src/app.js';
import { Grants } from '../src/grants/grant.js';
import { readTrail } from '../src/grants/management/trail.js';
import { grantReferences } from '../src/grants/management/grant-management.js';
import { MemoryStore } from '../src/store/memory.js';
import { freePort, readResponse, startGateway, testConfig, testPki, type Harness } from './helpers/harness.js';
import { clientPost, fullFlow, mtlsGet, refresh, userinfo } from './helpers/flow.js';
import { cdrConfig, cdrFlow, DAY } from './helpers/cdr.js';

const SUB = 'alice-7f3c';
// Several gateways and flows on a shared two-core machine.
t.setTimeout(240_000);
const ADMIN_SCOPE = 'grants:admin';

/** client-two is the bank's own back office here: it may hold the admin scope. */
function withTokenAdmin(config: Record<string, any>): void {
  config.grantManagement = { admin: { auth: 'token' } };
  config.clients[1].scope += ` ${ADMIN_SCOPE}`;
}

async function adminToken(h: Harness, scope = ADMIN_SCOPE): Promise<string> {
  const res = await clientPost(h, '/token', { grant_type: 'client_credentials', scope }, 'client-two');
  if (res.status !== 200) throw new Error(`admin token: ${res.status} ${res.text}`);
  return res.json.access_token;
}

async function admin(h: Harness, method: 'GET' | 'DELETE' | 'POST', pathname: string, token: string | undefined, client: 'client-one' | 'client-two' = 'client-two') {
  const res = await request(new URL(pathname, h.mtlsBase + '/').toString(), {
    method,
    dispatcher: h.agent(client),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return readResponse(res);
}

t.test('admin API with admin-scoped client_credentials tokens', async (t) => {
  const h = await startGateway({ configure: withTokenAdmin });
  t.teardown(() => h.close());
  const withdrawn: unknown[] = [];
  h.gateway.context.hooks.onGrantWithdrawn = (input) => {
    withdrawn.push(input);
  };
  const first = await fullFlow(h, 'client-one');
  const second = await fullFlow(h, 'client-one');
  const third = await fullFlow(h, 'client-two');
  const token = await adminToken(h);

  await t.test('a customer\'s grants, and a client\'s', async (t) => {
    const mine = await admin(h, 'GET', `/admin/grants?sub=${SUB}`, token);
    t.equal(mine.status, 200);
    t.equal(mine.headers['cache-control'], 'no-store');
    t.equal(mine.json.grants.length, 3, 'the three authorizations; client_credentials tokens are not customer grants');
    const one = mine.json.grants.find((g: any) => g.client_id === 'client-two');
    t.match(one, { sub: SUB, scopes: ['openid', 'accounts'], accounts: [], references: [] });
    t.ok(Date.parse(one.created_at) <= Date.now() && Date.parse(one.expires_at) > Date.now(), 'created and expires as times');
    const clientOne = await admin(h, 'GET', '/admin/grants?client_id=client-one', token);
    t.same(clientOne.json.grants.map((g: any) => g.client_id), ['client-one', 'client-one']);
    const limited = await admin(h, 'GET', '/admin/grants?client_id=client-one&limit=1', token);
    t.equal(limited.json.grants.length, 1, 'limit');
    t.same((await admin(h, 'GET', '/admin/grants?sub=nobody', token)).json, { grants: [] });
  });

  const grantId = (await admin(h, 'GET', '/admin/grants?client_id=client-two', token)).json.grants[0].grant_id as string;

  await t.test('one grant, refreshed, then withdrawn: its tokens end and the trail shows its life', async (t) => {
    const shown = await admin(h, 'GET', `/admin/grants/${grantId}`, token);
    t.equal(shown.status, 200);
    t.equal(shown.json.grant_id, grantId);
    const refreshed = await refresh(h, third.tokens.refresh_token, 'client-two');
    t.equal(refreshed.status, 200);
    t.equal((await userinfo(h, refreshed.json.access_token, 'client-two')).status, 200, 'works before');

    const removed = await admin(h, 'DELETE', `/admin/grants/${grantId}?initiator=customer`, token);
    t.equal(removed.status, 204);
    t.equal(removed.headers['cache-control'], 'no-store');
    t.equal((await userinfo(h, refreshed.json.access_token, 'client-two')).status, 401, 'the access token is refused at once');
    t.equal((await userinfo(h, third.tokens.access_token, 'client-two')).status, 401, 'and the first one');
    t.equal((await refresh(h, third.tokens.refresh_token, 'client-two')).status, 400, 'and the refresh token');
    t.equal((await userinfo(h, first.tokens.access_token)).status, 200, "another grant's tokens still work");
    t.match(withdrawn, [{ grant: { id: grantId, clientId: 'client-two', sub: SUB }, initiator: 'customer' }], 'the ecosystem hook heard it');

    t.equal((await admin(h, 'GET', `/admin/grants/${grantId}`, token)).status, 404, 'no longer live');
    t.equal((await admin(h, 'DELETE', `/admin/grants/${grantId}`, token)).status, 404, 'nothing to withdraw twice');
    t.notOk((await admin(h, 'GET', `/admin/grants?sub=${SUB}`, token)).json.grants.some((g: any) => g.grant_id === grantId), 'gone from the list');
    const trail = await admin(h, 'GET', `/admin/grants/${grantId}/trail`, token);
    t.equal(trail.status, 200);
    t.same(
      trail.json.events.map((e: any) => [e.event, e.by]),
      [
        ['created', undefined],
        ['refreshed', undefined],
        ['withdrawn', 'customer'],
      ],
    );
    t.equal(trail.json.events[0].scope, 'openid accounts');
    const audit = h.logs.map((l) => JSON.parse(l)).find((l) => l.audit === 'grant_withdrawn');
    t.match(audit, { grant_id: grantId, client_id: 'client-two', sub: SUB, outcome: 'success', initiator: 'customer', caller: 'client:client-two' });
    t.notOk(h.logs.some((l) => l.includes(third.tokens.access_token)), 'no token in the logs');
  });

  await t.test('a refresh token revoked by its client ends the grant, and the trail says so', async (t) => {
    const before = (await admin(h, 'GET', '/admin/grants?client_id=client-one', token)).json.grants.map((g: any) => g.grant_id);
    t.equal((await clientPost(h, '/revoke', { token: second.tokens.refresh_token })).status, 200);
    const after = (await admin(h, 'GET', '/admin/grants?client_id=client-one', token)).json.grants.map((g: any) => g.grant_id);
    const ended = before.filter((id: string) => !after.includes(id));
    t.equal(ended.length, 1, 'one grant fewer');
    const trail = await admin(h, 'GET', `/admin/grants/${ended[0]}/trail`, token);
    t.same(trail.json.events.map((e: any) => e.event), ['created', 'revoked']);
  });

  await t.test('refusals', async (t) => {
    const cases: [string, Awaited<ReturnType<typeof admin>>, number, string][] = [
      ['no token', await admin(h, 'GET', `/admin/grants?sub=${SUB}`, undefined), 401, 'invalid_token'],
      ['a token without the admin scope', await admin(h, 'GET', `/admin/grants?sub=${SUB}`, await adminToken(h, 'accounts')), 403, 'insufficient_scope'],
      ["a customer's token", await admin(h, 'GET', `/admin/grants?sub=${SUB}`, first.tokens.access_token, 'client-one'), 403, 'insufficient_scope'],
      ['a token over another certificate', await admin(h, 'GET', `/admin/grants?sub=${SUB}`, token, 'client-one'), 401, 'invalid_token'],
      ['neither sub nor client_id', await admin(h, 'GET', '/admin/grants', token), 400, 'invalid_request'],
      ['both sub and client_id', await admin(h, 'GET', `/admin/grants?sub=${SUB}&client_id=client-one`, token), 400, 'invalid_request'],
      ['sub twice', await admin(h, 'GET', `/admin/grants?sub=${SUB}&sub=x`, token), 400, 'invalid_request'],
      ['an overlong sub', await admin(h, 'GET', `/admin/grants?sub=${'x'.repeat(256)}`, token), 400, 'invalid_request'],
      ['limit 0', await admin(h, 'GET', `/admin/grants?sub=${SUB}&limit=0`, token), 400, 'invalid_request'],
      ['limit past the bound', await admin(h, 'GET', `/admin/grants?sub=${SUB}&limit=1001`, token), 400, 'invalid_request'],
      ['a malformed grant id', await admin(h, 'GET', '/admin/grants/not%20an%20id', token), 400, 'invalid_request'],
      ['an unknown grant', await admin(h, 'GET', '/admin/grants/AAAAAAAAAAAAAAAAAAAAAA', token), 404, 'not_found'],
      ['an unknown trail', await admin(h, 'GET', '/admin/grants/AAAAAAAAAAAAAAAAAAAAAA/trail', token), 404, 'not_found'],
      ['withdrawing an unknown grant', await admin(h, 'DELETE', '/admin/grants/AAAAAAAAAAAAAAAAAAAAAA', token), 404, 'not_found'],
      ['an unknown initiator', await admin(h, 'DELETE', `/admin/grants/${grantId}?initiator=robot`, token), 400, 'invalid_request'],
      ['POST on the list', await admin(h, 'POST', '/admin/grants', token), 405, 'invalid_request'],
      ['POST on a grant', await admin(h, 'POST', `/admin/grants/${grantId}`, token), 405, 'invalid_request'],
    ];
    for (const [what, res, status, error] of cases) {
      t.equal(res.status, status, `${what}: ${status}`);
      t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`);
      if (status !== 401 || error !== 'invalid_token' || res.json) t.equal(res.json?.error, error, `${what}: ${error}`);
    }
    t.match((await admin(h, 'GET', `/admin/grants?sub=${SUB}`, undefined)).headers['www-authenticate'], /^Bearer/);
  });

  await t.test('metrics per operation', async (t) => {
    const ops = `http://127.0.0.1:${h.gateway.context.config.listeners.ops.port}/metrics`;
    const text = await (await request(ops)).body.text();
    t.match(text, /fapi_gateway_grant_management_operations_total\{surface="admin",operation="withdraw",outcome="success"\} 1/);
    t.match(text, /fapi_gateway_grant_management_operations_total\{surface="admin",operation="list_customer",outcome="success"\}/);
    t.match(text, /fapi_gateway_grant_management_operations_total\{surface="admin",operation="show",outcome="not_found"\}/);
  });
});

t.test('admin API on its own listener: a certificate of the admin CA only', async (t) => {
  const { dir, pki } = await testPki();
  const adminCa = await createCa('O=Example Bank, CN=Example Bank back office CA');
  const officer = await issueCertificate({ subject: 'O=Example Bank, CN=back-office', usage: 'client' }, adminCa);
  const adminCaFile = path.join(dir, 'admin-ca.pem');
  await writeFile(adminCaFile, adminCa.certPem);
  const port = await freePort();
  const h = await startGateway({
    configure(config) {
      config.listeners.admin = { host: '127.0.0.1', port };
      config.grantManagement = { admin: { auth: 'mtls', clientCAs: [adminCaFile] } };
    },
  });
  const ca = await readFile(pki.ca);
  const officerAgent = new Agent({ connect: { ca, cert: officer.certPem, key: officer.keyPem } });
  t.teardown(async () => {
    await officerAgent.close();
    await h.close();
  });
  const base = `https://localhost:${port}`;
  const flow = await fullFlow(h, 'client-one');
  const listed = await readResponse(await request(`${base}/admin/grants?sub=${SUB}`, { dispatcher: officerAgent }));
  t.equal(listed.status, 200);
  t.equal(listed.json.grants.length, 1);
  await t.rejects(request(`${base}/admin/grants?sub=${SUB}`, { dispatcher: h.agent('client-one') }), 'a client certificate of another CA does not get past the handshake');
  await t.rejects(request(`${base}/admin/grants?sub=${SUB}`, { dispatcher: h.agent() }), 'nor does a connection without one');
  t.equal((await admin(h, 'GET', `/admin/grants?sub=${SUB}`, flow.tokens.access_token)).status, 404, 'not on the back channel in this mode');
  const removed = await request(`${base}/admin/grants/${listed.json.grants[0].grant_id}`, { method: 'DELETE', dispatcher: officerAgent });
  t.equal(removed.statusCode, 204);
  await removed.body.dump();
  t.equal((await userinfo(h, flow.tokens.access_token)).status, 401);
  t.match(h.logs.map((l) => JSON.parse(l)).find((l) => l.audit === 'grant_withdrawn'), { caller: 'certificate:back-office', initiator: 'bank' });
  t.equal((await mtlsGet(h, '/userinfo', 'client-one', { authorization: `Bearer ${flow.tokens.access_token}` })).status, 401);
});

t.test("an ecosystem's ids of a grant: a CDR arrangement", async (t) => {
  const { dir, pki } = await testPki();
  const adminCa = await createCa('O=Example Bank, CN=Example Bank back office CA');
  const officer = await issueCertificate({ subject: 'O=Example Bank, CN=back-office', usage: 'client' }, adminCa);
  const adminCaFile = path.join(dir, 'admin-ca-cdr.pem');
  await writeFile(adminCaFile, adminCa.certPem);
  const port = await freePort();
  const h = await startGateway({
    async configure(config) {
      await cdrConfig(config, pki);
      config.listeners.admin = { host: '127.0.0.1', port };
      config.grantManagement = { admin: { auth: 'mtls', clientCAs: [adminCaFile] } };
    },
  });
  const officerAgent = new Agent({ connect: { ca: await readFile(pki.ca), cert: officer.certPem, key: officer.keyPem } });
  t.teardown(async () => {
    await officerAgent.close();
    await h.close();
  });
  const flow = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  const listed = await readResponse(await request(`https://localhost:${port}/admin/grants?sub=${SUB}`, { dispatcher: officerAgent }));
  t.equal(listed.status, 200);
  t.same(listed.json.grants[0].references, [{ label: 'cdr.arrangementId', id: flow.tokens!.cdr_arrangement_id }]);
  t.ok(Date.parse(listed.json.grants[0].expires_at) <= Date.now() + (DAY + 60) * 1000, 'expires with the sharing duration');
});

t.test('a grant that is gone without an end shows as expired; trail entries are bounded', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const grants = new Grants(store, { accessToken: 1, code: 1, maxSeconds: 86_400, refreshToken: () => 'none' }, { maxPerCustomer: 10, maxPerClient: 10, trailRetentionSeconds: 60, maxTrailEntries: 4 });
  const now = Math.floor(Date.now() / 1000);
  const grant = { id: 'g1', clientId: 'c', sub: 's', scope: 'openid', createdAt: now, extensions: { cdr: { arrangementId: 'arr-1', other: 3 }, brazil: { consentId: 'urn:consent:1' } } };
  await grants.save(grant);
  t.same(grantReferences(grant), [
    { label: 'cdr.arrangementId', id: 'arr-1' },
    { label: 'brazil.consentId', id: 'urn:consent:1' },
  ]);
  for (let i = 0; i < 5; i++) await grants.refreshed(grant, false);
  const live = await readTrail(store, 'g1', true);
  t.equal(live.length, 4, 'bounded');
  t.equal(live[0].event, 'created', 'the creation is kept past the bound');
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  t.equal(await grants.get('g1'), undefined, 'the grant is gone');
  const trail = await readTrail(store, 'g1', false);
  t.same(trail.map((e) => e.event), ['created', 'refreshed', 'refreshed', 'refreshed', 'expired']);
  t.ok(trail[4].at >= trail[0].at, 'expired after it was created');
});

t.test('settings that fail at start name their key', async (t) => {
  const { dir, pki } = await testPki();
  const cases: [string, (config: Record<string, any>) => void, string][] = [
    ['mtls without a listener', (c) => (c.grantManagement = { admin: { auth: 'mtls', clientCAs: [pki.ca] } }), 'listeners.admin'],
    ['mtls without CAs', (c) => ((c.listeners.admin = { port: 1 }), (c.grantManagement = { admin: { auth: 'mtls' } })), 'grantManagement.admin.clientCAs'],
    ['a listener without mtls', (c) => (c.listeners.admin = { port: 1 }), 'listeners.admin'],
    ['CAs without mtls', (c) => (c.grantManagement = { admin: { auth: 'token', clientCAs: [pki.ca] } }), 'grantManagement.admin.clientCAs'],
    ['an unknown auth', (c) => (c.grantManagement = { admin: { auth: 'password' } }), 'grantManagement.admin.auth'],
    ['a scope with a space', (c) => (c.grantManagement = { admin: { auth: 'token', scope: 'a b' } }), 'grantManagement.admin.scope'],
    ['a negative retention', (c) => (c.grantManagement = { trailRetentionDays: -1 }), 'grantManagement.trailRetentionDays'],
    ['an unknown key', (c) => (c.grantManagement = { maxGrants: 3 }), 'grantManagement'],
  ];
  for (const [what, change, key] of cases) {
    const config = await testConfig(pki);
    change(config);
    const error = await resolveConfig(config, dir, {})
      .then((loaded) => createContext(loaded))
      .then(
        async (ctx) => {
          await ctx.store.close();
          return undefined;
        },
        (err: unknown) => err,
      );
    t.ok(error instanceof ConfigError, `${what}: a config error`);
    t.match((error as ConfigError).message, key, `${what}: names ${key}`);
  }
});
