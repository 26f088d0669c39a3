import t from 'tap';
import { request } from 'undici';
import { startGateway } from './helpers/harness.js';

t.test('under an artificially low threshold both TLS listeners answer 503 with Retry-After, and /readyz says not ready', async (t) => {
  const h = await startGateway({
    configure: (config) => {
      config.loadShedding = { maxHeapUsedBytes: 1, sampleIntervalMs: 10, retryAfterSeconds: 7 };
    },
  });
  t.teardown(() => h.close());
  // The first samples are taken a few milliseconds after start.
  let res = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  for (let i = 0; i < 50 && res.status !== 503; i++) {
    await new Promise((r) => setTimeout(r, 20));
    res = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  }
  t.equal(res.status, 503);
  t.equal(res.headers['retry-after'], '7');
  t.equal(res.json.error, 'temporarily_unavailable');
  t.ok(res.headers['x-fapi-interaction-id']);
  const par = await h.post('/par', 'x=1');
  t.equal(par.status, 503);
  const ops = h.gateway.context.config.listeners.ops;
  const ready = await request(`http://${ops.host}:${ops.port}/readyz`);
  t.equal(ready.statusCode, 503);
  t.match(await ready.body.json(), { load: 'shedding' });
  const live = await request(`http://${ops.host}:${ops.port}/healthz`);
  t.equal(live.statusCode, 200);
  await live.body.dump();
});

t.test('with default thresholds the gateway serves and is ready', async (t) => {
  const h = await startGateway();
  t.teardown(() => h.close());
  const ops = h.gateway.context.config.listeners.ops;
  const ready = await request(`http://${ops.host}:${ops.port}/readyz`);
  t.equal(ready.statusCode, 200);
  await ready.body.dump();
});
