import t from 'tap';
import { readFile } from 'node:fs/promises';
import { startGateway, type Harness } from './helpers/harness.js';
import { parForm } from './helpers/harness.js';

async function gatewayTrusting(header: 'ssl-client-cert' | 'x-forwarded-client-cert', trustedProxies: string[]): Promise<Harness> {
  return startGateway({
    configure: (config) => {
      config.tls.forwardedClientCertificate = { header, trustedProxies };
    },
  });
}

const pushAsClientTwo = (h: Harness, headers: Record<string, string>) =>
  h.post('/par', parForm({ client_id: 'client-two' }), { client: null, headers });

t.test('ingress-nginx header from a trusted proxy authenticates the client', async (t) => {
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.0/8']);
  t.teardown(() => h.close());
  const pem = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  const res = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(pem) });
  t.equal(res.status, 201, res.text);
  const none = await pushAsClientTwo(h, {});
  t.equal(none.status, 401, 'no header from the proxy: no certificate');
  const garbage = await pushAsClientTwo(h, { 'ssl-client-cert': 'not-a-certificate' });
  t.equal(garbage.status, 401);
  // The proxy's own TLS certificate does not stand in for the forwarded one.
  const viaTls = await h.post('/par', parForm({ client_id: 'client-two' }), { client: 'client-two' });
  t.equal(viaTls.status, 401);
});

t.test('Envoy x-forwarded-client-cert from a trusted proxy authenticates the client', async (t) => {
  const h = await gatewayTrusting('x-forwarded-client-cert', ['127.0.0.1/32', '::1/128']);
  t.teardown(() => h.close());
  const pem = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  const xfcc = `By=spiffe://cluster.local/ns/bank/sa/gateway;Hash=abc;Cert="${encodeURIComponent(pem)}";Subject="CN=client-two"`;
  const res = await pushAsClientTwo(h, { 'x-forwarded-client-cert': xfcc });
  t.equal(res.status, 201, res.text);
});

t.test('the same header from an untrusted address is ignored', async (t) => {
  const h = await gatewayTrusting('ssl-client-cert', ['10.0.0.0/8']);
  t.teardown(() => h.close());
  const pem = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  const spoofed = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(pem) });
  t.equal(spoofed.status, 401, spoofed.text);
  t.equal(spoofed.json.error, 'invalid_client');
  // The connection's own certificate still counts for direct clients.
  const direct = await h.post('/par', parForm({ client_id: 'client-two' }), { client: 'client-two' });
  t.equal(direct.status, 201, direct.text);
});

t.test('a forwarded certificate from an untrusted CA fails tls_client_auth', async (t) => {
  const { createCa, issueCertificate } = await import('../src/devpki/pki.js');
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.1/32']);
  t.teardown(() => h.close());
  const rogue = await createCa('O=rogue, CN=rogue CA');
  const forged = await issueCertificate({ subject: 'C=AU, O=fapi-gateway demo, CN=client-two', usage: 'client' }, rogue);
  const res = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(forged.certPem) });
  t.equal(res.status, 401);
});

t.test('an expired forwarded certificate from the trusted CA fails tls_client_auth', async (t) => {
  const { issueTestClientCertificate } = await import('./helpers/flow.js');
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.1/32']);
  t.teardown(() => h.close());
  const subject = 'C=AU, O=fapi-gateway demo, CN=client-two';
  const expired = await issueTestClientCertificate(h, subject, { notBefore: new Date(Date.now() - 10 * 86_400_000), validDays: 2 });
  t.equal((await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(expired.cert) })).status, 401, 'expired');
  const current = await issueTestClientCertificate(h, subject);
  t.equal((await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(current.cert) })).status, 201, 'a current one from the same CA');
});

t.test('a bad trusted proxy entry is a config error naming the key', async (t) => {
  const err = await gatewayTrusting('ssl-client-cert', ['not-an-ip']).then(
    () => undefined,
    (e: { keyPath?: string }) => e,
  );
  t.equal(err?.keyPath, 'tls.forwardedClientCertificate.trustedProxies[0]');
});
