// The FAPI TLS policy (checklist "TLS"): which versions and TLS 1.2 suites both TLS listeners accept,
// that the mTLS listener never fails a handshake over the client certificate, and key strength.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { ConfigError } from '../src/config/config-error.js';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import { keyWeakness } from '../src/keys/key-strength.js';
import { loadServerCredentials } from '../src/tls/server-credentials.js';
import { parForm, startGateway, type Harness } from './helpers/harness.js';

interface Outcome {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  code?: string;
  message?: string;
}

/** One TLS handshake against a listener; resolves with what was negotiated or how it failed. */
function handshake(port: number, ca: Buffer | string, options: tls.ConnectionOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...options });
    socket.once('secureConnect', () => {
      const outcome = { ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.end();
      resolve(outcome);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, code: err.code, message: err.message });
    });
  });
}

const why = (o: Outcome) => o.message ?? `${o.protocol} ${o.cipher}`;

// A refusal must come from the server: OpenSSL reports a received alert as ERR_SSL_*_ALERT_*. A
// client-side refusal (e.g. "no protocols available") would prove nothing about the gateway.
const SERVER_PROTOCOL_ALERT = /^ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION$/;
const SERVER_HANDSHAKE_ALERT = /^ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE$/;

// Node's default OpenSSL security level refuses TLS < 1.2 on the client side; level 0 lets the
// client offer it, so that the refusal is the server's.
const OLD_TLS = { ciphers: 'DEFAULT@SECLEVEL=0' } as const;

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h?.close());

for (const listener of ['public', 'mtls'] as const) {
  t.test(`${listener} listener`, async (t) => {
    const port = () => h.gateway.context.config.listeners[listener].port;

    t.test('TLS 1.3 is negotiated when the client offers it', async (t) => {
      const plain = await handshake(port(), h.ca);
      t.ok(plain.ok, why(plain));
      t.equal(plain.protocol, 'TLSv1.3');
      const both = await handshake(port(), h.ca, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
      t.equal(both.protocol, 'TLSv1.3', 'TLS 1.3 wins over 1.2 when both are offered');
    });

    for (const suite of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384']) {
      t.test(`TLS 1.2 with ${suite} is accepted`, async (t) => {
        const res = await handshake(port(), h.ca, { maxVersion: 'TLSv1.2', ciphers: suite });
        t.ok(res.ok, why(res));
        t.equal(res.protocol, 'TLSv1.2');
        t.equal(res.cipher, suite);
      });
    }

    t.test('TLS 1.2 offering the BCP 195 suites among others picks one of them', async (t) => {
      const res = await handshake(port(), h.ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384' });
      t.ok(res.ok, why(res));
      t.equal(res.cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    });

    t.test('TLS 1.1 is refused by the server', async (t) => {
      const res = await handshake(port(), h.ca, { ...OLD_TLS, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
      t.notOk(res.ok);
      t.match(res.code, SERVER_PROTOCOL_ALERT, why(res));
    });

    t.test('TLS 1.0 is refused by the server', async (t) => {
      const res = await handshake(port(), h.ca, { ...OLD_TLS, minVersion: 'TLSv1', maxVersion: 'TLSv1' });
      t.notOk(res.ok);
      t.match(res.code, SERVER_PROTOCOL_ALERT, why(res));
    });

    const refused12: Record<string, string> = {
      'CBC suites (ECDHE-ECDSA-AES128-SHA256, ECDHE-ECDSA-AES128-SHA, AES128-SHA)': 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:AES128-SHA:@SECLEVEL=0',
      'CHACHA20 on TLS 1.2': 'ECDHE-ECDSA-CHACHA20-POLY1305',
      'DHE suites': 'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305',
    };
    for (const [name, ciphers] of Object.entries(refused12)) {
      t.test(`TLS 1.2 offering only ${name} gets a handshake failure`, async (t) => {
        const res = await handshake(port(), h.ca, { maxVersion: 'TLSv1.2', ciphers });
        t.notOk(res.ok);
        t.match(res.code, SERVER_HANDSHAKE_ALERT, why(res));
      });
    }
  });
}

t.test('the mTLS listener completes the handshake without a client certificate, then answers with an OAuth error', async (t) => {
  const res = await handshake(h.gateway.context.config.listeners.mtls.port, h.ca);
  t.ok(res.ok, why(res));
  const http = await h.post('/par', parForm({ client_id: 'client-two' }), { client: null });
  t.equal(http.status, 401);
  t.equal(http.json?.error, 'invalid_client');
});

t.test('the mTLS listener completes the handshake with an untrusted certificate, then answers with an OAuth error', async (t) => {
  const rogueCa = await createCa('O=Rogue, CN=Rogue CA');
  const rogue = await issueCertificate({ subject: 'C=AU, O=fapi-gateway demo, CN=client-two', usage: 'client' }, rogueCa);
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const res = await handshake(h.gateway.context.config.listeners.mtls.port, h.ca, { cert: rogue.certPem, key: rogue.keyPem, maxVersion });
    t.ok(res.ok, `${maxVersion}: ${res.message ?? 'handshake completed'}`);
  }
  const http = await h.post('/par', parForm({ client_id: 'client-two' }), { agent: h.agent({ cert: rogue.certPem, key: rogue.keyPem }) });
  t.equal(http.status, 401);
  t.equal(http.json?.error, 'invalid_client');
});

t.test('with an RSA server key only the ECDHE-RSA AES-GCM suites are accepted on TLS 1.2', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-tls-rsa-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa('O=fapi-gateway test, CN=RSA test CA');
  const server = await issueCertificate({ subject: 'O=fapi-gateway test, CN=localhost', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server', keyKind: 'rsa' }, ca);
  await writeFile(path.join(dir, 'server.pem'), server.certPem + ca.certPem);
  await writeFile(path.join(dir, 'server-key.pem'), server.keyPem);
  const rsa = await startGateway({
    configure(config) {
      config.tls.cert = path.join(dir, 'server.pem');
      config.tls.key = path.join(dir, 'server-key.pem');
    },
  });
  t.teardown(() => rsa.close());
  for (const listener of ['public', 'mtls'] as const) {
    const port = rsa.gateway.context.config.listeners[listener].port;
    t.equal((await handshake(port, ca.certPem)).protocol, 'TLSv1.3', `${listener}: TLS 1.3`);
    for (const suite of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384']) {
      const res = await handshake(port, ca.certPem, { maxVersion: 'TLSv1.2', ciphers: suite });
      t.equal(res.cipher, suite, `${listener}: ${suite} accepted ${res.message ?? ''}`);
    }
    for (const suite of ['DHE-RSA-AES128-GCM-SHA256', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305']) {
      const res = await handshake(port, ca.certPem, { maxVersion: 'TLSv1.2', ciphers: suite });
      t.notOk(res.ok, `${listener}: ${suite} refused`);
      t.match(res.code, SERVER_HANDSHAKE_ALERT, why(res));
    }
  }
});

t.test('key strength: RSA at least 2048 bits, EC at least 224 bits', async (t) => {
  const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
  const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve }).privateKey;
  const rsa1024 = rsa(1024);
  t.match(keyWeakness(rsa1024), /1024 bits/, 'RSA 1024 private key rejected');
  t.match(keyWeakness(createPublicKey(rsa1024)), /1024 bits/, 'RSA 1024 public key rejected');
  t.match(keyWeakness(generateKeyPairSync('rsa-pss', { modulusLength: 1024 }).privateKey), /1024 bits/, 'RSA-PSS 1024 rejected');
  t.equal(keyWeakness(rsa(2048)), undefined, 'RSA 2048 accepted');
  t.equal(keyWeakness(ec('prime256v1')), undefined, 'P-256 accepted');
  t.equal(keyWeakness(ec('secp384r1')), undefined, 'P-384 accepted');
  t.equal(keyWeakness(ec('secp224r1')), undefined, 'P-224 accepted');
  t.match(keyWeakness(ec('prime192v1')), /not allowed/, 'P-192 rejected');
  t.equal(keyWeakness(generateKeyPairSync('ed25519').privateKey), undefined, 'Ed25519 accepted');
  t.match(keyWeakness(generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).privateKey), /not allowed/, 'DSA rejected');
});

t.test('a TLS server key of RSA 1024 bits is a configuration error on tls.key', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-tls-weak-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const key = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  await writeFile(path.join(dir, 'key.pem'), key);
  await writeFile(path.join(dir, 'cert.pem'), (await issueCertificate({ subject: 'CN=localhost', usage: 'server' })).certPem);
  const err = await loadServerCredentials({ cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), clientCAs: [h.pki.ca] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ConfigError);
  t.equal((err as ConfigError).keyPath, 'tls.key');
  t.match((err as ConfigError).problem, /1024 bits; at least 2048 required/);
});
