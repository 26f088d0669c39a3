/**
 * The CDR Register's statuses across replicas on one Redis: one replica fetches them (the others
 * take the shared copy), a status change fetched on one replica gates the client on the other, and a
 * Register admin JWT used on one replica is refused on the other.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Agent, request } from 'undici';
import { readResponse, testPki, type Response } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { replicaConfigs, replicaHarness, type ReplicaHarness } from './helpers/replicas.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { configureCdr, startCdrRegister, type FakeCdrRegister } from './helpers/cdr-register.js';
import { clientAssertion, newSoftware, registrationRequest, ssaClaims, type Software } from './helpers/cdr-recipient.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  let redis: RedisServer;
  let register: FakeCdrRegister;
  let dir: string;
  const processes: GatewayProcess[] = [];
  let A: ReplicaHarness;
  let B: ReplicaHarness;
  let agent: Agent;

  t.before(async () => {
    const { pki } = await testPki();
    redis = await startRedisServer();
    register = await startCdrRegister(pki);
    dir = await mkdtemp(path.join(tmpdir(), 'fapi-cdr-replicas-'));
    const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url, keyPrefix: `fapi-gateway-cdr:${randomUUID()}:` });
    // Only the start and the Register's refresh requests fetch during the test.
    for (const config of configs) await configureCdr(config, pki, register, dir, 300);
    for (const config of configs) processes.push(await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca }));
    [A, B] = await Promise.all(configs.map((c, i) => replicaHarness(pki, c, i === 0 ? 'A' : 'B')));
    agent = new Agent({ connect: { ca: await readFile(pki.ca), servername: 'localhost', cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) } });
  });

  t.teardown(async () => {
    await agent?.close();
    await Promise.all([A, B].map((h) => h?.close()));
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await redis?.stop();
    await register?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = async (h: ReplicaHarness, method: string, pathname: string, options: { jwt?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string>; bearer?: string } = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.jwt !== undefined) [headers['content-type'], body] = ['application/jwt', options.jwt];
    if (options.form !== undefined) [headers['content-type'], body] = ['application/x-www-form-urlencoded', new URLSearchParams(options.form).toString()];
    if (options.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(options.json)];
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    return readResponse(await request(new URL(pathname, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: agent }));
  };
  const token = async (h: ReplicaHarness, sw: Software) =>
    call(h, 'POST', '/token', { form: { grant_type: 'client_credentials', scope: 'cdr:registration', client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(sw, A.sharedIssuer) } });
  const refresh = async (h: ReplicaHarness, jwt?: string) =>
    call(h, 'POST', '/cds-au/v1/admin/register/metadata', { bearer: jwt ?? (await register.adminJwt(A.mtlsBase)), headers: { 'x-v': '1' }, json: { data: { action: 'REFRESH' } } });
  const until = async (check: () => Promise<boolean>, what: string) => {
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100)) if (await check()) return;
    throw new Error(`timed out waiting for ${what}`);
  };

  t.test('one replica fetches; a change fetched on A gates the client on B; an admin JWT is used once across replicas', async (t) => {
    await until(async () => register.fetches.total >= 2, 'the first fetch').catch((err) => {
      throw new Error(`${(err as Error).message}\n${processes.map((p) => p.output()).join('\n')}`);
    });
    await sleep(2_000);
    t.equal(register.fetches.total, 2, `the two lists fetched once at start, by one replica (the lease): ${JSON.stringify(register.fetches)}`);

    const sw = await newSoftware(register);
    const registered = await call(A, 'POST', '/register', { jwt: await registrationRequest(sw, A.sharedIssuer, await register.statement(ssaClaims(sw))) });
    t.equal(registered.status, 201, registered.text);
    sw.clientId = registered.json.client_id;
    t.equal((await token(B, sw)).status, 200, 'B knows the client');

    register.setProduct(sw.softwareId, 'INACTIVE');
    t.equal((await refresh(A)).status, 200);
    await until(async () => (await token(B, sw)).status === 403, 'B to refuse the inactive product');
    const refused = await token(B, sw);
    t.equal(refused.json.error, 'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive', 'B refuses what A fetched');

    const jwt = await register.adminJwt(A.mtlsBase);
    t.equal((await refresh(A, jwt)).status, 200);
    const replayed = await refresh(B, jwt);
    t.equal(replayed.status, 401, 'the same jti on another replica');
    t.match(replayed.json.errors[0].detail, /used before/);
  });
}
