import { webcrypto, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import { request } from 'undici';
import { createCa, issueCertificate, type Issued } from '../src/devpki/pki.js';
import { CLIENT_TWO_DN } from '../src/devpki/dev-pki.js';
import { x509 } from '../src/tls/x509.js';
import { clientPost, fullFlow, userinfo } from './helpers/flow.js';
import { startGateway, testPki, type Harness } from './helpers/harness.js';
import { SecretVolume } from './helpers/secret-volume.js';
import { spawnGateway } from './helpers/gateway-process.js';
import { testConfig } from './helpers/harness.js';

async function devCa(pki: { ca: string; caKey: string }): Promise<Issued> {
  const [certPem, keyPem] = await Promise.all([readFile(pki.ca, 'utf8'), readFile(pki.caKey, 'utf8')]);
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  return { cert: new x509.X509Certificate(certPem), keys: { privateKey, publicKey: undefined as never }, certPem, keyPem };
}

const serverCertificate = (ca: Issued) => issueCertificate({ subject: 'O=fapi-gateway demo, CN=localhost', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' }, ca);

/** The serial number of the certificate a new TLS handshake with the public listener presents. */
function handshakeSerial(h: Harness, agent = new HttpsAgent({ ca: h.ca, keepAlive: false })): Promise<{ serial: string; socket: TLSSocket; status: number }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${h.issuer}/.well-known/openid-configuration`, { agent, ca: h.ca, servername: 'localhost' }, (res) => {
      const socket = res.socket as TLSSocket;
      const serial = socket.getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ serial, socket, status: res.statusCode! }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, seconds = 20): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

interface Setup {
  h: Harness;
  volume: SecretVolume;
  files: Record<string, string | Buffer>;
  ca: Issued;
}

/** A gateway whose certificate, key, client CA and signing keys live in a Kubernetes-style Secret folder. */
async function setUp(t: Test, extra: (config: Record<string, any>) => void = () => {}): Promise<Setup> {
  const { dir, pki } = await testPki();
  const files: Record<string, string | Buffer> = {
    'tls.crt': await readFile(pki.serverCert),
    'tls.key': await readFile(pki.serverKey),
    'ca.crt': await readFile(pki.ca),
    'signing.jwks.json': await readFile(pki.signingKeys),
  };
  const volume = await SecretVolume.create(path.join(dir, `secret-${Math.random().toString(36).slice(2)}`), files);
  const h = await startGateway({
    configure(config) {
      config.tls = { ...config.tls, cert: volume.path('tls.crt'), key: volume.path('tls.key'), clientCAs: [volume.path('ca.crt')] };
      config.keys = { ...config.keys, signing: volume.path('signing.jwks.json') };
      config.reload = { debounceMs: 100 };
      config.metrics = { enabled: true };
      extra(config);
    },
  });
  t.teardown(() => h.close());
  return { h, volume, files, ca: await devCa(pki) };
}


const reloadEvents = (h: Harness, event: string, what: string) => h.logs.map((l) => JSON.parse(l)).filter((l) => l.event === event && l.what === what);

t.test('a new certificate in the Secret folder: new handshakes get it, a keep-alive connection carries on', async (t) => {
  const { h, volume, files, ca } = await setUp(t);
  const keepAlive = new HttpsAgent({ ca: h.ca, keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  const before = await handshakeSerial(h, keepAlive);
  t.equal(before.serial, serialOf(files['tls.crt'].toString()), 'the first certificate is served');

  const next = await serverCertificate(ca);
  await volume.update({ ...files, 'tls.crt': next.certPem + ca.certPem, 'tls.key': next.keyPem });
  await until('a handshake with the new certificate', async () => (await handshakeSerial(h)).serial === serialOf(next.certPem));
  t.pass('a new handshake presents the new certificate');

  const again = await handshakeSerial(h, keepAlive);
  t.equal(again.socket, before.socket, 'the keep-alive connection was reused');
  t.equal(again.status, 200, 'and answered');
  t.equal(again.serial, before.serial, 'with the certificate it was opened with');

  t.equal(reloadEvents(h, 'credentials_reloaded', 'tls').length, 1, 'the reload is logged once (the burst of file events is debounced)');
  const ops = h.gateway.context.config.listeners.ops;
  const metrics = await (await request(`http://${ops.host}:${ops.port}/metrics`)).body.text();
  const series = metrics.split('\n').find((l) => l.startsWith('fapi_gateway_certificate_expiry_seconds{') && l.includes('what="server"'));
  t.ok(series?.includes(`serial="${serialOf(next.certPem)}"`), 'the expiry metric names the new certificate');
  t.ok(Number(series!.split(' ').at(-1)) > 300 * 86_400, 'and counts the seconds to its expiry');
  t.notOk(metrics.includes(`serial="${serialOf(files['tls.crt'].toString())}"`), 'the replaced certificate has no series left');
  t.match(metrics, /fapi_gateway_credential_reloads_total\{what="tls",outcome="reloaded"\} 1/);
});

t.test('a bad new certificate or key is refused with its cause, and the one in use kept', async (t) => {
  const { h, volume, files, ca } = await setUp(t);
  const served = serialOf(files['tls.crt'].toString());
  // A certificate without its key: written first, as a careless rotation would.
  const other = await serverCertificate(ca);
  await volume.update({ ...files, 'tls.crt': other.certPem });
  await until('the refusal', () => reloadEvents(h, 'credentials_reload_refused', 'tls').length === 1);
  t.match(reloadEvents(h, 'credentials_reload_refused', 'tls')[0].cause, /tls\.key: .* is not the private key of the certificate/);
  t.equal((await handshakeSerial(h)).serial, served, 'the old certificate is still served');

  await volume.update({ ...files, 'tls.crt': 'not a certificate' });
  await until('the second refusal', () => reloadEvents(h, 'credentials_reload_refused', 'tls').length === 2);
  t.match(reloadEvents(h, 'credentials_reload_refused', 'tls')[1].cause, /tls\.cert: .* is not a PEM certificate/);
  t.equal((await handshakeSerial(h)).serial, served);

  // Then the right pair arrives together.
  await volume.update({ ...files, 'tls.crt': other.certPem, 'tls.key': other.keyPem });
  await until('the new certificate', async () => (await handshakeSerial(h)).serial === serialOf(other.certPem));
  t.pass('a good pair is taken');
});

t.test('a new client CA: a certificate it issued authenticates after the reload, not before', async (t) => {
  const { h, volume, files } = await setUp(t);
  const secondCa = await createCa('O=Another issuer, CN=second client CA');
  const issued = await issueCertificate({ subject: CLIENT_TWO_DN.split(',').reverse().join(', '), usage: 'client' }, secondCa);
  const agent = h.agent({ cert: issued.certPem, key: issued.keyPem });
  const token = () => clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' }, 'client-two', { agent });
  t.equal((await token()).status, 401, 'a certificate from an unknown CA does not authenticate');

  await volume.update({ ...files, 'ca.crt': files['ca.crt'].toString() + secondCa.certPem });
  await until('the client CA reload', () => reloadEvents(h, 'credentials_reloaded', 'tls').length === 1);
  // The open connection keeps the handshake it had; a new one is verified with the new CAs.
  const fresh = h.agent({ cert: issued.certPem, key: issued.keyPem });
  const res = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' }, 'client-two', { agent: fresh });
  t.equal(res.status, 200, res.text);
  t.equal(reloadEvents(h, 'credentials_reloaded', 'tls')[0].client_cas, 2);
});

t.test('signing keys: a key is published before it signs; tokens signed before and after both verify', async (t) => {
  const { h, volume, files } = await setUp(t);
  const jwks = async () => JSON.parse((await h.get(`${h.issuer}/jwks`)).text) as { keys: JWK[] };
  const verify = async (token: string) => jwtVerify(token, createLocalJWKSet(await jwks()), { issuer: h.issuer });
  const old = (await fullFlow(h)).tokens.access_token as string;
  const { alg, kid: oldKid } = decodeProtectedHeader(old);
  const document = JSON.parse(files['signing.jwks.json'].toString()) as { keys: JWK[] };
  const { privateKey } = await generateKeyPair(alg!, { extractable: true, modulusLength: 2048 });
  const newKey = { ...(await exportJWK(privateKey)), kid: 'rotated-1', alg, use: 'sig' };
  const active = document.keys.map((k) => k.kid!);

  // Step 1: published, not yet signing.
  await volume.update({ ...files, 'signing.jwks.json': JSON.stringify({ keys: [...document.keys, newKey], active }) });
  await until('the new key in the JWKS', async () => (await jwks()).keys.some((k) => k.kid === 'rotated-1'));
  t.notOk((await jwks()).keys.some((k) => 'd' in k), 'no private member is published');
  const during = (await fullFlow(h)).tokens.access_token as string;
  t.equal(decodeProtectedHeader(during).kid, oldKid, 'the old key still signs while the new one is only published');

  // Step 2: the new key signs; the old one stays published.
  const nextActive = active.map((kid) => (kid === oldKid ? 'rotated-1' : kid));
  await volume.update({ ...files, 'signing.jwks.json': JSON.stringify({ keys: [...document.keys, newKey], active: nextActive }) });
  await until('the new key signing', () => h.gateway.context.keys.signingKey([alg!])?.kid === 'rotated-1');
  const after = (await fullFlow(h)).tokens.access_token as string;
  t.equal(decodeProtectedHeader(after).kid, 'rotated-1');
  for (const [name, token] of [['before', old], ['after', after]] as const) {
    t.ok(await verify(token), `a token signed ${name} the rotation verifies against the JWKS`);
    t.equal((await userinfo(h, token)).status, 200, `and is accepted at userinfo (${name})`);
  }

  // A refused file (an active kid that is not in it) changes nothing.
  await volume.update({ ...files, 'signing.jwks.json': JSON.stringify({ keys: [...document.keys, newKey], active: ['missing'] }) });
  await until('the refusal', () => reloadEvents(h, 'credentials_reload_refused', 'signing_keys').length === 1);
  t.match(reloadEvents(h, 'credentials_reload_refused', 'signing_keys')[0].cause, /no key with kid "missing"/);
  t.equal(h.gateway.context.keys.signingKey([alg!])?.kid, 'rotated-1', 'the keys in use are kept');

  // Step 3: once the old key's tokens have expired, it goes; a token it signed no longer verifies.
  const remaining = document.keys.filter((k) => k.kid !== oldKid);
  await volume.update({ ...files, 'signing.jwks.json': JSON.stringify({ keys: [...remaining, newKey], active: nextActive }) });
  await until('the old key gone', async () => !(await jwks()).keys.some((k) => k.kid === oldKid));
  t.equal((await userinfo(h, old)).status, 401, 'a token of the removed key is refused (no cached verification survives)');
  t.equal((await userinfo(h, after)).status, 200);
});

t.test('SIGHUP reloads the certificate of a running gateway process', async (t) => {
  const { dir, pki } = await testPki();
  const ca = await devCa(pki);
  const config = await testConfig(pki);
  const certFile = path.join(dir, 'sighup-server.crt');
  const keyFile = path.join(dir, 'sighup-server.key');
  await writeFile(certFile, await readFile(pki.serverCert));
  await writeFile(keyFile, await readFile(pki.serverKey), { mode: 0o600 });
  config.tls = { ...config.tls, cert: certFile, key: keyFile };
  config.reload = { watch: false };
  const child = await spawnGateway(config);
  t.teardown(() => child.stop());
  const h = { issuer: config.issuer, ca: await readFile(pki.ca) } as Harness;
  const first = (await handshakeSerial(h)).serial;

  const next = await serverCertificate(ca);
  await writeFile(certFile, next.certPem + ca.certPem);
  await writeFile(keyFile, next.keyPem);
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await handshakeSerial(h)).serial, first, 'without watching, a file change alone changes nothing');
  child.child.kill('SIGHUP');
  await until('the new certificate after SIGHUP', async () => (await handshakeSerial(h)).serial === serialOf(next.certPem), 30);
  await until('the reload in the log', () => child.output().includes('credentials_reloaded'), 30);
  t.equal(child.child.exitCode, null, 'SIGHUP does not end the process');
});

t.test('reload settings are checked at start', async (t) => {
  await t.rejects(
    startGateway({ configure: (config) => void (config.reload = { debounceMs: 5 }) }),
    /reload\.debounceMs/,
  );
  await t.rejects(
    startGateway({ configure: (config) => void (config.reload = { watch: 'yes' }) }),
    /reload\.watch/,
  );
});

t.test('a certificate and a signing key rotated under load: no request fails, tokens from before and after verify', async (t) => {
  const { h, volume, files, ca } = await setUp(t);
  const document = JSON.parse(files['signing.jwks.json'].toString()) as { keys: JWK[] };
  const first = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' });
  const { alg, kid: oldKid } = decodeProtectedHeader(first.json.access_token);
  const { privateKey } = await generateKeyPair(alg!, { extractable: true, modulusLength: 2048 });
  const newKey = { ...(await exportJWK(privateKey)), kid: 'under-load-1', alg, use: 'sig' };
  const active = document.keys.map((k) => k.kid!);

  let running = true;
  const failures: string[] = [];
  const tokens: string[] = [];
  let handshakes = 0;
  const deadline = Date.now() + 60_000;
  const worker = async (i: number) => {
    for (let n = 0; running && Date.now() < deadline && n < 2000; n++) {
      try {
        if (i % 2 === 0) {
          const res = await handshakeSerial(h);
          handshakes++;
          if (res.status !== 200) failures.push(`discovery ${res.status}`);
        } else {
          const res = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' });
          if (res.status === 200) tokens.push(res.json.access_token);
          else failures.push(`token ${res.status} ${res.text}`);
        }
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  const next = await serverCertificate(ca);
  await new Promise((r) => setTimeout(r, 500));
  // The certificate, and the new key published, in one Secret update; then the key activated.
  await volume.update({ ...files, 'tls.crt': next.certPem + ca.certPem, 'tls.key': next.keyPem, 'signing.jwks.json': JSON.stringify({ keys: [...document.keys, newKey], active }) });
  await until('the new certificate', async () => (await handshakeSerial(h)).serial === serialOf(next.certPem), 30);
  const nextActive = active.map((kid) => (kid === oldKid ? 'under-load-1' : kid));
  await volume.update({ ...files, 'tls.crt': next.certPem + ca.certPem, 'tls.key': next.keyPem, 'signing.jwks.json': JSON.stringify({ keys: [...document.keys, newKey], active: nextActive }) });
  await until('the new key signing', () => tokens.length > 0 && decodeProtectedHeader(tokens.at(-1)!).kid === 'under-load-1', 30);
  await new Promise((r) => setTimeout(r, 500));
  running = false;
  await Promise.all(workers);

  t.same(failures, [], 'no request failed during the rotation');
  t.ok(handshakes > 2, `${handshakes} new connections during the run`);
  const keySet = createLocalJWKSet(JSON.parse((await h.get(`${h.issuer}/jwks`)).text));
  const kids = new Set<string>();
  for (const token of [first.json.access_token, ...tokens]) {
    const { protectedHeader } = await jwtVerify(token, keySet, { issuer: h.issuer });
    kids.add(protectedHeader.kid!);
  }
  t.same([...kids].sort(), [oldKid, 'under-load-1'].sort(), `all ${tokens.length + 1} tokens, signed by either key, verify against the JWKS`);
});
