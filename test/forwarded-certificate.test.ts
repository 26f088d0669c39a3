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

// Hardening: which part of a forwarded header is the proxy's, and the certificate rules at every use.
const CLIENT_TWO_SUBJECT = 'C=AU, O=fapi-gateway demo, CN=client-two';
const xfccElement = (pem: string, subject = 'CN=client') =>
  `By=spiffe://cluster.local/ns/bank/sa/gateway;Hash=abc;Cert="${encodeURIComponent(pem)}";Subject="${subject.replace(/"/g, '\\"')}";URI=`;

t.test('XFCC: only the element the trusted proxy appended (the last) counts', async (t) => {
  const { issueCertificate } = await import('../src/devpki/pki.js');
  const h = await gatewayTrusting('x-forwarded-client-cert', ['127.0.0.1/32', '::1/128']);
  t.teardown(() => h.close());
  const victim = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  // What an attacker presents to the proxy: its own certificate, any subject it likes.
  const own = await issueCertificate({ subject: 'O=attacker, CN=a"b', usage: 'client' });

  const forgedFirst = await pushAsClientTwo(h, { 'x-forwarded-client-cert': `${xfccElement(victim)},${xfccElement(own.certPem, 'O=attacker, CN=a"b')}` });
  t.equal(forgedFirst.status, 401, 'a forged first element naming client-two does not authenticate');
  t.equal(forgedFirst.json.error, 'invalid_client');
  t.equal(forgedFirst.json.error_description, 'the client certificate is not issued by a trusted CA', "the attacker's own certificate was read");

  const genuineLast = await pushAsClientTwo(h, { 'x-forwarded-client-cert': `${xfccElement(own.certPem)},${xfccElement(victim, 'C=AU,O=fapi-gateway demo,CN=client-two')}` });
  t.equal(genuineLast.status, 201, `the proxy's own element (last) is used: ${genuineLast.text}`);

  // An open quote in the client's part must not swallow the proxy's element into it.
  const swallow = `Cert="${encodeURIComponent(victim)}";X="`;
  const swallowed = await pushAsClientTwo(h, { 'x-forwarded-client-cert': `${swallow},${xfccElement(own.certPem, 'CN=\\"x')}` });
  t.equal(swallowed.status, 401, 'an unbalanced quote makes the header unreadable, not the client element last');
  t.equal(swallowed.json.error_description, "the proxy's client certificate header is ambiguous or malformed");

  const twoCerts = await pushAsClientTwo(h, { 'x-forwarded-client-cert': `Cert="${encodeURIComponent(victim)}";${xfccElement(own.certPem)}` });
  t.equal(twoCerts.status, 401, 'an element with two Cert values is refused');
});

t.test('XFCC syntax', async (t) => {
  const { parseXfcc } = await import('../src/tls/forwarded-certificate.js');
  t.same(parseXfcc('By=a;Cert="x%2Cy";Subject="CN=a, O=\\"b\\";c",Hash=h'), [
    [['By', 'a'], ['Cert', 'x%2Cy'], ['Subject', 'CN=a, O="b";c']],
    [['Hash', 'h']],
  ]);
  t.equal(parseXfcc('Cert="abc'), undefined, 'unterminated quote');
  t.equal(parseXfcc('Cert="abc"def'), undefined, 'text after a closing quote');
  t.equal(parseXfcc('Cert=ab"c'), undefined, 'a quote inside an unquoted value');
  t.equal(parseXfcc('Cert'), undefined, 'no value');
  t.equal(parseXfcc('X="a,Cert="b'), undefined);
});

t.test('ssl-client-cert: exactly one value holding exactly one certificate', async (t) => {
  const { issueCertificate } = await import('../src/devpki/pki.js');
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.0/8']);
  t.teardown(() => h.close());
  const pem = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  const other = await issueCertificate({ subject: 'O=attacker, CN=attacker', usage: 'client' });
  const twoHeaders = await pushAsClientTwo(h, { 'ssl-client-cert': [encodeURIComponent(pem), encodeURIComponent(other.certPem)] } as never);
  t.equal(twoHeaders.status, 401, 'a repeated header is refused');
  t.equal(twoHeaders.json.error_description, "the proxy's client certificate header is ambiguous or malformed");
  const twoHeadersReversed = await pushAsClientTwo(h, { 'ssl-client-cert': [encodeURIComponent(other.certPem), encodeURIComponent(pem)] } as never);
  t.equal(twoHeadersReversed.status, 401, 'whichever comes first');
  const twoBlocks = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(pem + other.certPem) });
  t.equal(twoBlocks.status, 401, 'a value holding two PEM blocks is refused');
  const twoBlocksReversed = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(other.certPem + pem) });
  t.equal(twoBlocksReversed.status, 401);
  t.equal((await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(pem) })).status, 201, 'the single certificate alone is accepted');
});

t.test('forwarded certificates must be client certificates', async (t) => {
  const { issueTestClientCertificate } = await import('./helpers/flow.js');
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.1/32']);
  t.teardown(() => h.close());
  const serverOnly = await issueTestClientCertificate(h, CLIENT_TWO_SUBJECT, { usage: 'server' });
  const refusedEku = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(serverOnly.cert) });
  t.equal(refusedEku.status, 401, 'extended key usage serverAuth only');
  t.equal(refusedEku.json.error_description, 'the client certificate is not for TLS client authentication');
  const caLeaf = await issueTestClientCertificate(h, CLIENT_TWO_SUBJECT, { basicConstraintsCa: true });
  const refusedCa = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(caLeaf.cert) });
  t.equal(refusedCa.status, 401, 'basicConstraints CA:TRUE');
  t.equal(refusedCa.json.error_description, 'a CA certificate cannot be a client certificate');
  const future = await issueTestClientCertificate(h, CLIENT_TWO_SUBJECT, { notBefore: new Date(Date.now() + 86_400_000) });
  const refusedFuture = await pushAsClientTwo(h, { 'ssl-client-cert': encodeURIComponent(future.cert) });
  t.equal(refusedFuture.json.error_description, 'the client certificate is not yet valid');
});

t.test('a forwarded certificate cached while valid is refused once it expires', async (t) => {
  const { issueTestClientCertificate } = await import('./helpers/flow.js');
  const h = await gatewayTrusting('ssl-client-cert', ['127.0.0.1/32']);
  t.teardown(() => h.close());
  const validForMs = 8_000;
  const notAfter = Math.floor((Date.now() + validForMs) / 1000) * 1000;
  const notBefore = new Date(notAfter - 86_400_000);
  const shortLived = await issueTestClientCertificate(h, CLIENT_TWO_SUBJECT, { notBefore, validDays: 1 });
  const header = { 'ssl-client-cert': encodeURIComponent(shortLived.cert) };
  const first = await pushAsClientTwo(h, header);
  if (Date.now() < notAfter) t.equal(first.status, 201, `accepted while valid: ${first.text}`);
  else t.comment('the machine was too slow to use the certificate while it was valid');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, notAfter - Date.now()) + 1_500));
  const later = await pushAsClientTwo(h, header);
  t.equal(later.status, 401, 'the same header, once the certificate expired');
  t.equal(later.json.error_description, 'the client certificate has expired');
});
