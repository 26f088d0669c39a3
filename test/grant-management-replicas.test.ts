// A grant withdrawn at the bank ends its tokens on every replica: two gateway processes on a real
// Redis, the admin API at one and the token refused at the other straight away; the CLI does the
// same on the shared store, and lists and shows what the API does.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { stringify } from 'yaml';
import { readResponse, testPki, type Harness } from './helpers/harness.js';
import { clientPost, fullFlow, refresh, userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer } from './helpers/redis-server.js';
import { replicaConfigs, startReplicas } from './helpers/replicas.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SUB = 'alice-7f3c';
t.setTimeout(300_000);

async function adminCall(h: Harness, method: 'GET' | 'DELETE', pathname: string, token: string) {
  return readResponse(await request(new URL(pathname, h.mtlsBase + '/').toString(), { method, dispatcher: h.agent('client-two'), headers: { authorization: `Bearer ${token}` } }));
}

function cli(args: string[], configFile: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'grants', ...args, '--config', configFile], { cwd: ROOT, env: process.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}

t.test('withdrawal through the API and the CLI ends the tokens on another replica', { timeout: 280_000 }, async (t) => {
  if (!requireProgram(t, 'redis-server', 'apt-get install redis-server')) return;
  const { pki } = await testPki();
  const redis = await startRedisServer();
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-grants-replicas-'));
  const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url });
  for (const config of configs) {
    config.grantManagement = { admin: { auth: 'token' } };
    config.clients[1].scope += ' grants:admin';
  }
  const replicas = await startReplicas(pki, configs);
  t.teardown(async () => {
    for (const r of replicas) {
      await r.h.close();
      await r.process.stop('SIGKILL');
    }
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const [a, b] = replicas.map((r) => r.h);

  const tokenAt = async (h: Harness) => (await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'grants:admin' }, 'client-two')).json.access_token as string;
  const adminA = await tokenAt(a);
  const adminB = await tokenAt(b);

  // Through the API at A; B refuses the tokens on the very next call.
  const first = await fullFlow(a, 'client-one');
  t.equal((await userinfo(b, first.tokens.access_token)).status, 200, 'the token works on B');
  const listedOnB = await adminCall(b, 'GET', `/admin/grants?sub=${SUB}`, adminB);
  t.equal(listedOnB.json.grants.length, 1, 'B lists the grant made at A (the index is in the shared store)');
  const id = listedOnB.json.grants[0].grant_id as string;
  const removed = await adminCall(a, 'DELETE', `/admin/grants/${id}`, adminA);
  const answered = performance.now();
  t.equal(removed.status, 204);
  t.equal((await userinfo(b, first.tokens.access_token)).status, 401, 'B refuses the access token as soon as A answered');
  t.comment(`B refused the withdrawn grant's token ${Math.round(performance.now() - answered)} ms after A answered the withdrawal`);
  t.equal((await refresh(b, first.tokens.refresh_token)).status, 400, 'and the refresh token');
  t.same((await adminCall(b, 'GET', `/admin/grants/${id}/trail`, adminB)).json.events.map((e: any) => e.event), ['created', 'withdrawn'], 'the trail, read at B');

  // Through the CLI on the shared store.
  const second = await fullFlow(b, 'client-two');
  const refreshed = await refresh(a, second.tokens.refresh_token, 'client-two');
  t.equal(refreshed.status, 200);
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, stringify(configs[0]));
  const listed = await cli(['list', '--sub', SUB], configFile);
  t.equal(listed.code, 0, listed.err);
  const rows = listed.out.trim().split('\n');
  t.equal(rows.length, 1, 'one live grant');
  const [grantId, clientId, sub, scopes] = rows[0].split('\t');
  t.same([clientId, sub, scopes], ['client-two', SUB, 'openid accounts']);
  const byClient = await cli(['list', '--client', 'client-two'], configFile);
  t.match(byClient.out, grantId);
  const shown = await cli(['show', grantId], configFile);
  t.equal(shown.code, 0, shown.err);
  const { grant, trail } = JSON.parse(shown.out);
  t.equal(grant.grant_id, grantId);
  t.same(trail.map((e: any) => e.event), ['created', 'refreshed']);

  const withdrawn = await cli(['withdraw', grantId, '--initiator', 'customer'], configFile);
  t.equal(withdrawn.code, 0, withdrawn.err);
  t.match(withdrawn.out, `withdrawn ${grantId}`);
  t.match(JSON.parse(withdrawn.err.trim().split('\n').pop()!), { audit: 'grant_withdrawn', grant_id: grantId, client_id: 'client-two', sub: SUB, outcome: 'success', initiator: 'customer' }, 'audited');
  for (const h of [a, b]) t.equal((await userinfo(h, refreshed.json.access_token, 'client-two')).status, 401, `${h.name} refuses the withdrawn grant's token`);
  const again = await cli(['withdraw', grantId], configFile);
  t.equal(again.code, 1, 'a second withdrawal finds nothing');
  const after = await cli(['show', grantId], configFile);
  t.same(JSON.parse(after.out).trail.map((e: any) => [e.event, e.by]), [['created', undefined], ['refreshed', undefined], ['withdrawn', 'customer']].map(([e, by]) => (by ? [e, by] : [e, undefined])));
  t.equal(JSON.parse(after.out).grant, null, 'the grant is no longer live');
  const wrong = await cli(['list'], configFile);
  t.equal(wrong.code, 78, 'list needs --sub or --client (a usage error, exit 78 like every config error)');
  t.match(wrong.err + wrong.out, '--sub');
});
