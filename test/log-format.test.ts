import t from 'tap';
import { createGateway } from '../src/app.js';
import { resolveConfig } from '../src/config/load.js';
import { fullFlow } from './helpers/flow.js';
import { startGateway, testConfig, testPki } from './helpers/harness.js';

t.test('log lines: string levels, ISO times, one interaction id, the client address and certificate subject on each request line', async (t) => {
  const h = await startGateway();
  t.teardown(() => h.close());
  await fullFlow(h, 'client-one');
  const lines = h.logs.map((l) => JSON.parse(l));
  t.ok(lines.every((l) => ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(l.level)), 'levels are words');
  t.ok(lines.every((l) => typeof l.time === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(l.time)), 'times are ISO 8601');
  const requests = lines.filter((l) => l.msg === 'request');
  t.ok(requests.length > 3, `request lines (${requests.length})`);
  t.ok(requests.every((l) => typeof l.interactionId === 'string' && !('reqId' in l)), 'the interaction id once, no second request id');
  t.ok(requests.every((l) => l.clientIp === '127.0.0.1'), 'the client address');
  const token = requests.find((l) => l.route === '/token');
  t.match(token, { listener: 'mtls', clientId: 'client-one', certificateSubject: /CN=client-one/ }, 'the certificate subject on the mTLS listener');
  t.notOk(requests.find((l) => l.route === '/authorize')?.certificateSubject, 'none where no certificate was presented');
});

t.test('the client address behind a trusted proxy comes from X-Forwarded-For', async (t) => {
  const h = await startGateway({
    configure: (config) => {
      config.tls.forwardedClientCertificate = { header: 'ssl-client-cert', trustedProxies: ['127.0.0.1/32'] };
    },
  });
  t.teardown(() => h.close());
  await h.get(`${h.issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-for': '203.0.113.7, 127.0.0.1' } });
  const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.route === '/.well-known/openid-configuration');
  t.equal(line?.clientIp, '203.0.113.7');
});

t.test('a second gateway on the same ports names the port taken and its listener', async (t) => {
  const { dir, pki } = await testPki();
  const loaded = await resolveConfig(await testConfig(pki), dir, {});
  const logger = { level: 'silent' };
  const first = await createGateway(loaded, { logger });
  await first.listen();
  t.teardown(() => first.close(1000));
  const second = await createGateway(loaded, { logger });
  const port = loaded.config.listeners.public.port;
  await t.rejects(second.listen(), { message: new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use, so the public listener \\(listeners\\.public\\) cannot start: is another fapi-gateway running\\?`) });
  await second.close(1000);
});
