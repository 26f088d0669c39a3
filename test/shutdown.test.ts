import t from 'tap';
import { request } from 'undici';
import { testPki, testConfig, connectHarness } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { spawnGateway } from './helpers/gateway-process.js';
import { recordingUpstream } from './helpers/upstream.js';
import { Agent } from 'undici';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';

t.test('SIGTERM during a request: the request completes, new ones are refused, the process exits in time', async (t) => {
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000 }];
  config.shutdown = { graceSeconds: 8, readinessDelaySeconds: 0 };
  config.log = { level: 'warn' };

  const child = await spawnGateway(config);
  t.teardown(() => child.stop('SIGKILL'));

  const ca = await readFile(pki.ca);
  const agent = new Agent({ connect: { ca, servername: 'localhost', cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) } });
  t.teardown(() => agent.close());
  const { tokens } = await fullFlowAgainst(config, pki);
  const slow = request(`${config.listeners.mtls.url}/accounts/slow`, { headers: { authorization: `Bearer ${tokens.access_token}` }, dispatcher: agent });
  await new Promise((r) => setTimeout(r, 300));
  child.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const fresh = await request(`${config.listeners.mtls.url}/accounts`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
    dispatcher: new Agent({ connect: { ca, servername: 'localhost' } }),
  }).then((r) => r.statusCode, (err: Error & { code?: string }) => err.code ?? 'error');
  t.not(fresh, 200, `a new connection is refused (${fresh})`);
  const res = await slow;
  t.equal(res.statusCode, 200, 'the request in flight completed');
  await res.body.dump();
  // Exit code 0 is the gateway's own word that everything drained within the grace period.
  t.equal(await child.exited, 0, 'exit code 0: drained in time');
});

t.test('SIGTERM with keep-alive clients: readiness off first, served during the delay, idle connections closed cleanly, exit 0', async (t) => {
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000 }];
  const graceSeconds = 20;
  config.shutdown = { graceSeconds, readinessDelaySeconds: 4 };
  config.log = { level: 'info' };

  const child = await spawnGateway(config);
  t.teardown(() => child.stop('SIGKILL'));
  const ca = await readFile(pki.ca);
  const clientCert = { cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) };
  const keepAlive = new Agent({ connect: { ca, servername: 'localhost', ...clientCert }, keepAliveTimeout: 60_000 });
  t.teardown(() => keepAlive.close());
  const discovery = `${config.issuer}/.well-known/openid-configuration`;
  const ops = `http://${config.listeners.ops.host}:${config.listeners.ops.port}`;
  const { tokens } = await fullFlowAgainst(config, pki);
  const accounts = (path: string) =>
    request(`${config.listeners.mtls.url}/accounts${path}`, { headers: { authorization: `Bearer ${tokens.access_token}` }, dispatcher: keepAlive });
  await (await accounts('')).body.dump();
  await (await request(discovery, { dispatcher: keepAlive })).body.dump();

  // A keep-alive connection that sits idle through the whole shutdown.
  const idle = tlsConnect({ host: '127.0.0.1', port: config.listeners.public.port, ca, servername: 'localhost' });
  const idleEvents: string[] = [];
  await new Promise<void>((resolve, reject) => {
    idle.once('error', reject);
    idle.write(`GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
    idle.once('data', () => resolve());
  });
  idle.on('data', () => idleEvents.push('data'));
  const idleClosed = new Promise<void>((resolve) => {
    idle.on('end', () => idleEvents.push('end'));
    idle.on('error', (err: NodeJS.ErrnoException) => idleEvents.push(`error ${err.code}`));
    idle.on('close', () => resolve());
  });

  const slow = accounts('/slow');
  await new Promise((r) => setTimeout(r, 300));
  const signalledAt = Date.now();
  child.child.kill('SIGTERM');
  // Readiness turns 503 before anything else changes.
  let readiness = 0;
  let body: unknown;
  for (let i = 0; i < 100 && readiness !== 503; i++) {
    const res = await request(`${ops}/readyz`);
    body = await res.body.json();
    readiness = res.statusCode;
    if (readiness !== 503) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(readiness, 503, '/readyz answers 503 once SIGTERM arrived');
  t.same(body, { status: 'shutting down' }, 'and says why');
  // Load balancers that have not noticed yet still get answers, on new connections and kept-alive ones.
  const fresh = await request(discovery, { dispatcher: new Agent({ connect: { ca, servername: 'localhost' } }) });
  await fresh.body.dump();
  t.equal(fresh.statusCode, 200, 'a new connection during the readiness delay is served');
  t.equal(fresh.headers.connection, 'close', 'with Connection: close');
  const again = await accounts('');
  await again.body.dump();
  t.equal(again.statusCode, 200, 'a kept-alive connection during the readiness delay is served');

  const res = await slow;
  t.equal(res.statusCode, 200, 'the request in flight completed');
  await res.body.dump();
  t.equal(await child.exited, 0, 'exit code 0');
  t.ok(Date.now() - signalledAt < graceSeconds * 1000, 'exited within the grace');
  await idleClosed;
  t.same(idleEvents, ['end'], 'the idle keep-alive connection was closed cleanly, not reset');
  t.notMatch(child.output(), /still open/, 'no request reported open');
});

t.test('SIGHUP reloads the credentials and does not stop the process; a SIGTERM afterwards still drains', async (t) => {
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.shutdown = { graceSeconds: 10, readinessDelaySeconds: 0 };
  config.log = { level: 'info' };
  const child = await spawnGateway(config);
  t.teardown(() => child.stop('SIGKILL'));
  child.child.kill('SIGHUP');
  for (let i = 0; i < 100 && !child.output().includes('SIGHUP'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(child.output(), /SIGHUP: reloading the TLS credentials and signing keys/, 'the SIGHUP is logged');
  t.equal(child.child.exitCode, null, 'the process still runs');
  const ops = `http://${config.listeners.ops.host}:${config.listeners.ops.port}`;
  const res = await request(`${ops}/readyz`);
  await res.body.dump();
  t.equal(res.statusCode, 200, 'and is still ready');
  child.child.kill('SIGTERM');
  t.equal(await child.exited, 0, 'SIGTERM then drains and exits 0');
  t.match(child.output(), /"msg":"stopped"/, 'the buffered log lines were written at the end');
});

async function fullFlowAgainst(config: Record<string, any>, pki: Awaited<ReturnType<typeof testPki>>['pki']) {
  const remote = await connectHarness({ pki, issuer: config.issuer, mtlsBase: config.listeners.mtls.url });
  try {
    return await fullFlow(remote, 'client-one');
  } finally {
    await remote.close();
  }
}
