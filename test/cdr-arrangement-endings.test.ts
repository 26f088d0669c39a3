// CDR arrangements as the Register and the bank see them, against a gateway on profile cdr with a fake
// CDR Register and a fake recipient over HTTPS on loopback: Get Metrics' authorisation, customer and
// recipient counts from the arrangements; a software product the Register REMOVED has its arrangements
// ended (introspection, resources and the counts see it, no notice to the recipient); a grant withdrawn
// through the onGrantWithdrawn hook ends its arrangement and tells the recipient; access tokens carry
// the pairwise sub while the upstream hears the customer's own.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { decodeJwt, type JWK } from 'jose';
import { request } from 'undici';
import { readResponse, startGateway, testConfig, testPki, type Harness, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaHarness } from './helpers/replicas.js';
import { asClient, cdrConfig, cdrFlow, DAY } from './helpers/cdr.js';
import { startCdrRegister, type FakeCdrRegister } from './helpers/cdr-register.js';
import { recordingUpstream } from './helpers/upstream.js';

const ACCOUNTS = '/cds-au/v1/banking/accounts';
const BOB = { username: 'bob', password: 'builder-pw' };

// The gateway in its own process (it must trust the test CA for the Register and the recipient)...
let gateway: GatewayProcess;
let h: Harness;
// ...and one in this process, whose hooks a test calls as grant management will.
let local: Harness;
let register: FakeCdrRegister;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let recipient: Awaited<ReturnType<typeof startRecipient>>;
let dir: string;

/** A data recipient's revocation endpoint: records every call, answers 204. */
async function startRecipient(certFile: string, keyFile: string) {
  const received: { url: string; body: string }[] = [];
  const server: Server = createServer({ cert: await readFile(certFile), key: await readFile(keyFile) }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `https://localhost:${(server.address() as AddressInfo).port}/adr`, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

t.before(async () => {
  const { pki } = await testPki();
  register = await startCdrRegister(pki);
  upstream = await recordingUpstream();
  recipient = await startRecipient(pki.serverCert, pki.serverKey);
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-cdr-endings-'));
  const config = await testConfig(pki);
  await cdrConfig(config, pki, { recipientBaseUri: recipient.base });
  const signing = JSON.parse(await readFile(pki.signingKeys, 'utf8')) as { keys: JWK[] };
  const signingFile = path.join(dir, 'signing.jwks.json');
  await writeFile(signingFile, JSON.stringify({ keys: signing.keys.filter((k) => k.alg === 'PS256' || k.alg === 'ES256') }));
  config.keys = { signing: signingFile };
  config.clients[0].software_id = 'sw-one';
  config.clients[1].software_id = 'sw-two';
  config.users.find((u: { username: string }) => u.username === 'bob').claims = { customer_type: 'organisation' };
  config.ecosystem.register = {
    jwksUri: register.jwksUri,
    softwareProductStatusUri: register.productsUri,
    dataRecipientStatusUri: register.recipientsUri,
    pollSeconds: { min: 300, max: 300 },
    allowPrivateAddresses: ['127.0.0.0/8', '::1'],
  };
  config.routes = [{ prefix: ACCOUNTS, upstream: upstream.url, methods: ['GET'], scopes: ['bank:accounts.basic:read'], ecosystem: { versions: [1] } }];
  gateway = await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca });
  h = await replicaHarness(pki, config, 'gateway');
  local = await startGateway({
    configure: async (c) => {
      await cdrConfig(c, pki, { recipientBaseUri: recipient.base });
      c.clients[1].recipient_base_uri = recipient.base;
    },
  });
});

t.teardown(async () => {
  await h?.close();
  await gateway?.stop();
  await local?.close();
  await register?.close();
  await upstream?.close();
  await recipient?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function adminCall(method: 'GET' | 'POST', pathname: string, json?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await register.adminJwt(h.mtlsBase)}`, 'x-v': method === 'GET' ? '5' : '1' };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${h.mtlsBase}${pathname}`, { method: method as never, headers, body: json === undefined ? undefined : JSON.stringify(json), dispatcher: h.agent('client-one') });
  return readResponse(res);
}

const metrics = async () => {
  const res = await adminCall('GET', '/cds-au/v1/admin/metrics');
  if (res.status !== 200) throw new Error(`metrics answered ${res.status}: ${res.text}`);
  return res.json.data;
};

const introspect = (token: string, name: 'client-one' | 'client-two', at = h) => asClient(at, name, '/introspect', { token, token_type_hint: 'refresh_token' });

async function accounts(token: string, name: 'client-one' | 'client-two'): Promise<Response> {
  const res = await request(`${h.mtlsBase}${ACCOUNTS}`, {
    headers: { authorization: `Bearer ${token}`, 'x-v': '1', 'x-fapi-auth-date': new Date().toUTCString(), accept: 'application/json' },
    dispatcher: h.agent(name),
  });
  return readResponse(res);
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sum = (counts: { individual: number; nonIndividual: number }) => counts.individual + counts.nonIndividual;

t.test('access tokens carry the pairwise sub; the upstream hears the customer\'s own', async (t) => {
  const { tokens } = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  const idToken = decodeJwt(tokens!.id_token);
  const access = decodeJwt(tokens!.access_token);
  t.equal(access.sub, idToken.sub, 'the same pairwise sub as the ID token');
  t.not(access.sub, 'alice-7f3c');
  const res = await accounts(tokens!.access_token, 'client-one');
  t.equal(res.status, 200, res.text);
  t.equal(upstream.received.at(-1)?.headers['x-authenticated-subject'], 'alice-7f3c', "the bank's upstream gets the customer's own subject");
  const cc = await asClient(h, 'client-one', '/token', { grant_type: 'client_credentials', scope: 'cdr:registration' });
  t.equal(decodeJwt(cc.json.access_token).sub, 'client-one', "a client's own token: the client is the subject");
});

t.test('Get Metrics: authorisation, customer and recipient counts from the arrangements', async (t) => {
  const before = await metrics();
  const a = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  await cdrFlow(h, 'client-one', { sharing_duration: DAY }, BOB);
  await cdrFlow(h, 'client-two', { sharing_duration: 0 });
  const amended = await cdrFlow(h, 'client-one', { sharing_duration: 2 * DAY, cdr_arrangement_id: a.tokens!.cdr_arrangement_id });
  t.equal(amended.tokens!.cdr_arrangement_id, a.tokens!.cdr_arrangement_id);
  const data = await metrics();
  const auth = data.authorisations;
  const was = before.authorisations;
  t.equal(auth.activeAuthorisationCount.individual - was.activeAuthorisationCount.individual, 1, 'alice: one more ongoing (the amendment is the same arrangement)');
  t.equal(auth.activeAuthorisationCount.nonIndividual - was.activeAuthorisationCount.nonIndividual, 1, 'bob, an organisation: non-individual');
  t.equal(auth.newAuthorisationCount.currentDay.ongoing.individual - was.newAuthorisationCount.currentDay.ongoing.individual, 1);
  t.equal(auth.newAuthorisationCount.currentDay.ongoing.nonIndividual - was.newAuthorisationCount.currentDay.ongoing.nonIndividual, 1);
  t.equal(auth.newAuthorisationCount.currentDay.onceOff.individual - was.newAuthorisationCount.currentDay.onceOff.individual, 1, 'sharing_duration 0: once-off');
  t.equal(auth.amendedAuthorisationCount.currentDay.individual - was.amendedAuthorisationCount.currentDay.individual, 1);
  t.equal(auth.newAuthorisationCount.previousDays.length, 7, 'seven previous days');
  t.equal(data.customerCount, 2, 'alice and bob');
  t.equal(data.recipientCount, 2, 'two software products');
  t.same(auth.abandonedConsentFlowCount, {}, 'abandonment is not counted: left out as the CDS allows');
  t.same(auth.abandonmentsByStage.rejected, {});

  const revoked = await asClient(h, 'client-one', '/arrangements/revoke', { cdr_arrangement_id: a.tokens!.cdr_arrangement_id });
  t.equal(revoked.status, 204);
  const after = (await metrics()).authorisations;
  t.equal(after.revokedAuthorisationCount.currentDay.individual - auth.revokedAuthorisationCount.currentDay.individual, 1, 'the revocation is counted');
  t.equal(after.activeAuthorisationCount.individual - auth.activeAuthorisationCount.individual, -1);
  t.equal((await asClient(h, 'client-one', '/arrangements/revoke', { cdr_arrangement_id: a.tokens!.cdr_arrangement_id })).status, 422, 'ended: revoked once only');
});

t.test('onGrantWithdrawn: the arrangement ends and a notice to the recipient is queued', async (t) => {
  const { tokens } = await cdrFlow(local, 'client-two', { sharing_duration: DAY });
  const grantId = decodeJwt(tokens!.access_token).grant_id as string;
  const ctx = local.gateway.context;
  const grant = await ctx.grants.get(grantId);
  t.ok(grant, 'the grant');
  // As grant management does: the core ends the grant, then tells the pack.
  await ctx.grants.end(grantId);
  await ctx.hooks.onGrantWithdrawn!({ grant: grant!, initiator: 'customer' });
  t.same((await introspect(tokens!.refresh_token, 'client-two', local)).json, { active: false }, 'its refresh token is inactive');
  t.match(await ctx.store.get('arrangement', tokens!.cdr_arrangement_id), { endedBy: 'customer' }, 'marked ended by the customer');
  const notices = await Promise.all((await ctx.store.members('pending-notices')).map((id) => ctx.store.get<{ arrangementId: string; url: string }>('notice', id)));
  t.match(notices.find((n) => n?.arrangementId === tokens!.cdr_arrangement_id), { url: `${recipient.base}/arrangements/revoke` }, 'the recipient is to be told');
  t.ok(local.logs.some((l) => l.includes('"audit":"arrangement_revoked"') && l.includes('"initiator":"customer"')), 'audited');
  t.equal((await asClient(local, 'client-two', '/arrangements/revoke', { cdr_arrangement_id: tokens!.cdr_arrangement_id })).status, 422, 'no longer current');
  // A grant the pack knows nothing of (client_credentials) is ignored; so is an amended arrangement's earlier grant.
  await ctx.hooks.onGrantWithdrawn!({ grant: { ...grant!, extensions: {} }, initiator: 'bank' });
  const first = await cdrFlow(local, 'client-one', { sharing_duration: DAY });
  const earlier = await ctx.grants.get(decodeJwt(first.tokens!.access_token).grant_id as string);
  const amended = await cdrFlow(local, 'client-one', { sharing_duration: DAY, cdr_arrangement_id: first.tokens!.cdr_arrangement_id });
  await ctx.hooks.onGrantWithdrawn!({ grant: earlier!, initiator: 'bank' });
  t.equal((await introspect(amended.tokens!.refresh_token, 'client-one', local)).json.active, true, 'the amended arrangement lives on');
});

t.test('REMOVED: the software product\'s arrangements end, seen by introspection, resources and the counts', async (t) => {
  const one = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  const two = await cdrFlow(h, 'client-two', { sharing_duration: DAY });
  const before = await metrics();
  const noticesBefore = recipient.received.length;
  register.setProduct('sw-one', 'REMOVED');
  const refreshed = await adminCall('POST', '/cds-au/v1/admin/register/metadata', { data: { action: 'REFRESH' } });
  t.equal(refreshed.status, 200);
  await until(() => gateway.output().includes(`"initiator":"register"`) && gateway.output().includes(one.tokens!.cdr_arrangement_id), 'the arrangement ended by the Register');
  t.same((await introspect(one.tokens!.refresh_token, 'client-one')).json, { active: false }, 'its refresh token is inactive');
  const resource = await accounts(one.tokens!.access_token, 'client-one');
  t.equal(resource.status, 403, 'resources refuse it');
  const after = await metrics();
  t.ok(sum(after.authorisations.revokedAuthorisationCount.currentDay) - sum(before.authorisations.revokedAuthorisationCount.currentDay) >= 1, 'counted as revoked');
  t.equal(after.recipientCount, 1, 'only client two\'s product has current arrangements');
  t.equal((await introspect(two.tokens!.refresh_token, 'client-two')).json.active, true, 'another product\'s arrangement lives on');
  t.equal((await accounts(two.tokens!.access_token, 'client-two')).status, 200);
  await sleep(500);
  t.equal(recipient.received.length, noticesBefore, 'no notice: the Register told the recipient');
});
