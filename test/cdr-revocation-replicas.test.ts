// CDR arrangement endings across replicas on a real Redis: a recipient's revocation at one replica
// ends the tokens at the other at once; a customer's withdrawal (the CLI) does the same and tells
// the recipient through the durable notice queue, which outlives every replica going down.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { stringify } from 'yaml';
import { testPki } from './helpers/harness.js';
import { userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { pollUntil, replicaConfigs, replicaHarness, type ReplicaHarness } from './helpers/replicas.js';
import { asClient, BRAND_ID, cdrConfig, cdrFlow, DAY } from './helpers/cdr.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
// Two gateway processes, three CLI runs and a restart on a shared two-core machine: more than the usual file timeout.
t.setTimeout(360_000);

interface Received {
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  answered: number;
}

/** A data recipient's revocation endpoint over HTTPS on loopback: records every call, answers `status`. */
async function startRecipient(certFile: string, keyFile: string) {
  const received: Received[] = [];
  const state = { status: 503 };
  const server: Server = createServer({ cert: await readFile(certFile), key: await readFile(keyFile) }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      // A recipient that does not know the arrangement says so for good: 422.
      const status = req.url?.startsWith('/refusing/') ? 422 : state.status;
      received.push({ url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body, answered: status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `https://localhost:${(server.address() as AddressInfo).port}/cdr`, received, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

t.test('arrangement endings across replicas, and the outbound notice through a restart', { timeout: 340_000 }, async (t) => {
  if (!requireProgram(t, 'redis-server', 'apt-get install redis-server')) return;
  const { pki } = await testPki();
  const redis: RedisServer = await startRedisServer();
  const recipient = await startRecipient(pki.serverCert, pki.serverKey);
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-cdr-replicas-'));
  const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url });
  for (const config of configs) {
    await cdrConfig(config, pki, { recipientBaseUri: recipient.base });
    config.clients[1].recipient_base_uri = recipient.base.replace(/\/cdr$/, '/refusing');
  }
  const env = { NODE_EXTRA_CA_CERTS: pki.ca };
  const processes: GatewayProcess[] = [];
  const harnesses: ReplicaHarness[] = [];
  t.teardown(async () => {
    for (const h of harnesses) await h.close();
    for (const p of processes) await p.stop('SIGKILL');
    await recipient.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const start = async (i: number) => {
    processes.push(await spawnGateway(configs[i], env));
    const h = await replicaHarness(pki, configs[i], i === 0 ? 'A' : 'B');
    harnesses.push(h);
    return h;
  };
  const [a, b] = [await start(0), await start(1)];

  // A recipient revokes at replica A: replica B refuses the tokens straight away.
  const first = await cdrFlow(a, 'client-one', { sharing_duration: DAY });
  t.equal((await userinfo(b, first.tokens!.access_token)).status, 200, 'the token works on B');
  const revoked = await asClient(a, 'client-one', '/arrangements/revoke', { cdr_arrangement_id: first.tokens!.cdr_arrangement_id });
  t.equal(revoked.status, 204, revoked.text);
  t.equal((await userinfo(b, first.tokens!.access_token)).status, 401, 'B refuses the access token as soon as A answered');
  t.equal((await asClient(b, 'client-one', '/token', { grant_type: 'refresh_token', refresh_token: first.tokens!.refresh_token })).status, 400, 'and the refresh token');
  t.equal(recipient.received.length, 0, 'no notice for a revocation the recipient made');

  // The customer withdraws at the bank (the CLI): tokens end everywhere, the recipient is told.
  const second = await cdrFlow(a, 'client-one', { sharing_duration: DAY });
  const id = second.tokens!.cdr_arrangement_id as string;
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, stringify(configs[0]));
  const cli = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'arrangements', 'revoke', id, '--config', configFile], { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  cli.stdout.on('data', (c) => (out += c));
  cli.stderr.on('data', (c) => (out += c));
  const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
  t.equal(code, 0, out);
  t.match(out, `arrangement ${id}`);
  // The running replicas may find the queued notice before the CLI does, and make the attempt themselves.
  t.match(out, /not delivered yet|a gateway replica is delivering it now/, 'the recipient answered 503 to the first attempt');
  t.equal((await userinfo(b, second.tokens!.access_token)).status, 401, 'B refuses the withdrawn arrangement\'s token');
  t.equal((await userinfo(a, second.tokens!.access_token)).status, 401, 'and so does A');
  t.ok((await pollUntil(async () => recipient.received.length >= 1 || undefined, 30_000, 100)).value, 'one attempt was made');

  // A recipient that refuses (4xx) is not asked again: the notice is given up at once, and said so.
  const third = await cdrFlow(a, 'client-two', { sharing_duration: DAY });
  const refusing = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'arrangements', 'revoke', third.tokens!.cdr_arrangement_id, '--config', configFile], { cwd: ROOT, env: { ...process.env, ...env } });
  let refusingOut = '';
  refusing.stdout.on('data', (c) => (refusingOut += c));
  t.equal(await new Promise<number | null>((resolve) => refusing.once('exit', resolve)), 0);
  t.match(refusingOut, /refused by the recipient \(given up\)|a gateway replica is delivering it now/);
  const unknown = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'arrangements', 'revoke', 'no-such-arrangement', '--config', configFile], { cwd: ROOT, env: { ...process.env, ...env } });
  t.equal(await new Promise<number | null>((resolve) => unknown.once('exit', resolve)), 1, 'an unknown arrangement: exit 1');

  // Every replica goes down while the recipient is failing; the notice waits in Redis.
  for (const p of processes.splice(0)) await p.stop('SIGKILL');
  for (const h of harnesses.splice(0)) await h.close();
  recipient.state.status = 204;
  const restarted = await start(1);
  const { value: delivered } = await pollUntil(async () => recipient.received.find((r) => r.answered === 204), 60_000, 100);
  t.ok(delivered, 'a restarted replica delivers the notice');
  if (!delivered) return;
  t.equal(delivered.url, '/cdr/arrangements/revoke');
  t.match(delivered.contentType, /^application\/x-www-form-urlencoded/);
  const form = new URLSearchParams(delivered.body);
  t.same([...form.keys()], ['cdr_arrangement_jwt'], 'form parameters only: cdr_arrangement_jwt');
  const jwks = createLocalJWKSet((await restarted.get(`${restarted.issuer}/jwks`)).json);
  const endpoint = `${recipient.base}/arrangements/revoke`;
  const { payload } = await jwtVerify(form.get('cdr_arrangement_jwt')!, jwks, { issuer: BRAND_ID, audience: endpoint });
  t.equal(payload.cdr_arrangement_id, id, 'signed by the holder, naming the arrangement');
  const bearer = delivered.authorization?.replace(/^Bearer /, '') ?? '';
  const { payload: auth } = await jwtVerify(bearer, jwks, { issuer: BRAND_ID, subject: BRAND_ID, audience: endpoint });
  t.type(auth.jti, 'string', 'a self-signed bearer JWT: iss = sub = brand id, aud = the endpoint');
  t.ok(decodeJwt(bearer).exp! > decodeJwt(bearer).iat!);
  // A few polls later, nothing more was sent: a delivered notice leaves the queue.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(recipient.received.filter((r) => r.answered === 204).length, 1, 'delivered once');
  t.equal(recipient.received.filter((r) => r.answered === 422).length, 1, 'the refusing recipient was asked once');
  const metrics = await (await fetch(`${restarted.opsBase}/metrics`)).text();
  t.match(metrics, /fapi_gateway_cdr_revocation_notices_total\{outcome="delivered"\} 1/, 'counted');
});
