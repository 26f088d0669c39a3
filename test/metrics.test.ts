import t from 'tap';
import { connect } from 'node:tls';
import { request } from 'undici';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startGateway, parForm, type Harness } from './helpers/harness.js';
import { fullFlow, push, authorize } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';

let h: Harness;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;

t.before(async () => {
  upstream = await recordingUpstream();
  h = await startGateway({
    configure: (config) => {
      config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET'], timeoutMs: 1000 }];
    },
  });
});
t.teardown(async () => {
  await h.close();
  await upstream.close();
});

async function scrape(accept?: string): Promise<{ text: string; contentType: string }> {
  const ops = h.gateway.context.config.listeners.ops;
  const res = await request(`http://${ops.host}:${ops.port}/metrics`, { headers: accept ? { accept } : {} });
  return { text: await res.body.text(), contentType: String(res.headers['content-type']) };
}

type Family = { name: string; type: string };

/**
 * Sums the samples of `name` (a histogram's `_count`) whose labels include `labels`. The parser above
 * proves the text is well-formed; sample values are read here because it drops histogram labels.
 */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || (m[1] !== name && m[1] !== `${name}_count`)) continue;
    const sample = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => sample[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

t.test('after a flow and some failures every series is there with the expected counts', async (t) => {
  const { tokens } = await fullFlow(h, 'client-one');
  const ok = await h.get(`${h.mtlsBase}/accounts`, { client: 'client-one', headers: { authorization: `Bearer ${tokens.access_token}` } });
  t.equal(ok.status, 200);
  const timeout = await h.get(`${h.mtlsBase}/accounts/slow`, { client: 'client-one', headers: { authorization: `Bearer ${tokens.access_token}` } });
  t.equal(timeout.status, 504);
  // A token used with another client's certificate, a replayed assertion, a bad assertion, a denied authorization.
  await h.get(`${h.mtlsBase}/accounts`, { client: 'client-two', headers: { authorization: `Bearer ${tokens.access_token}` } });
  const assertion = await h.assertion();
  const form = { ...parForm(), client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
  await h.post('/par', form);
  await h.post('/par', form);
  await h.post('/par', { ...parForm(), client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'x.y.z' });
  await authorize(h, await push(h, 'client-one'), { decision: 'deny' });
  await h.post('/introspect', { ...(await h.assertionForm()), token: tokens.access_token });
  await h.post('/revoke', { ...(await h.assertionForm()), token: tokens.refresh_token });
  // A handshake the TLS policy refuses.
  const { port } = h.gateway.context.config.listeners.mtls;
  await new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256', rejectUnauthorized: false });
    s.on('error', () => resolve());
    s.on('secureConnect', () => (s.destroy(), resolve()));
  });

  const { text, contentType } = await scrape();
  t.match(contentType, /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(text) as Family[];
  const f = (name: string, labels?: Record<string, string>) => value(text, name, labels);

  t.ok(f('fapi_gateway_http_requests_total', { listener: 'mtls', route: '/par', status_class: '2xx' }) >= 3);
  t.ok(f('fapi_gateway_http_request_duration_seconds', { listener: 'public', route: '/authorize' }) >= 2);
  t.equal(f('fapi_gateway_par_requests_total', { outcome: 'created' }), 3);
  t.equal(f('fapi_gateway_par_requests_total', { outcome: 'rejected' }), 2);
  t.equal(f('fapi_gateway_authorizations_total', { outcome: 'approved' }), 1);
  t.equal(f('fapi_gateway_authorizations_total', { outcome: 'denied' }), 1);
  t.equal(f('fapi_gateway_tokens_issued_total', { grant_type: 'authorization_code' }), 1);
  t.equal(f('fapi_gateway_client_authentication_failures_total', { method: 'private_key_jwt', reason: 'replayed' }), 1);
  t.equal(f('fapi_gateway_client_authentication_failures_total', { method: 'private_key_jwt', reason: 'malformed_assertion' }), 1);
  t.equal(f('fapi_gateway_token_guard_rejections_total', { reason: 'certificate_mismatch' }), 1);
  t.equal(f('fapi_gateway_introspections_total', { active: 'true' }), 1);
  t.equal(f('fapi_gateway_revocations_total', { token_type: 'refresh_token' }), 1);
  t.ok(f('fapi_gateway_tls_connections_total', { listener: 'mtls', version: 'TLSv1.3', client_certificate: 'yes' }) >= 1);
  t.ok(f('fapi_gateway_tls_connections_total', { listener: 'public', client_certificate: 'no' }) >= 1);
  t.ok(f('fapi_gateway_tls_handshake_failures_total', { listener: 'mtls' }) >= 1);
  t.equal(f('fapi_gateway_upstream_request_duration_seconds', { route: '/accounts', status_class: '2xx' }), 1);
  t.equal(f('fapi_gateway_upstream_errors_total', { route: '/accounts', kind: 'timeout' }), 1);
  t.ok(f('fapi_gateway_store_operation_duration_seconds', { operation: 'consume', backend: 'memory' }) >= 2);
  t.equal(f('fapi_gateway_build_info', { profile: 'fapi2' }), 1);
  t.ok(families.some((x) => x.name === 'nodejs_eventloop_lag_p99_seconds'), 'event-loop delay');
  t.ok(families.some((x) => x.name === 'process_cpu_seconds_total'), 'process defaults');
  t.ok(families.some((x) => x.name === 'fapi_gateway_shed_requests_total'));
  t.ok(families.some((x) => x.name === 'fapi_gateway_client_certificate_verification_failures_total'));
  t.ok(families.some((x) => x.name === 'fapi_gateway_store_errors_total'));

  // Label values are bounded: no raw paths, tokens or user names.
  for (const secret of [tokens.access_token, tokens.refresh_token, 'alice', '/accounts/slow']) t.notOk(text.includes(secret), `no ${secret.slice(0, 20)} in metrics`);
});

t.test('OpenMetrics when asked for', async (t) => {
  const { text, contentType } = await scrape('application/openmetrics-text; version=1.0.0');
  t.match(contentType, /^application\/openmetrics-text/);
  t.match(text, /# EOF\s*$/);
});

t.test('metrics can be switched off', async (t) => {
  const off = await startGateway({ configure: (config) => void (config.metrics = { enabled: false }) });
  t.teardown(() => off.close());
  const ops = off.gateway.context.config.listeners.ops;
  const res = await request(`http://${ops.host}:${ops.port}/metrics`);
  t.equal(res.statusCode, 404);
  await res.body.dump();
});
