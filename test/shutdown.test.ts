import t from 'tap';
import { request } from 'undici';
import { testPki, testConfig, connectHarness } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { spawnGateway } from './helpers/gateway-process.js';
import { recordingUpstream } from './helpers/upstream.js';
import { Agent } from 'undici';
import { readFile } from 'node:fs/promises';

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

async function fullFlowAgainst(config: Record<string, any>, pki: Awaited<ReturnType<typeof testPki>>['pki']) {
  const remote = await connectHarness({ pki, issuer: config.issuer, mtlsBase: config.listeners.mtls.url });
  try {
    return await fullFlow(remote, 'client-one');
  } finally {
    await remote.close();
  }
}
