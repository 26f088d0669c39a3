// profile: brazil's TLS (OFB security profile): TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 and
// ECDHE-RSA-AES256-GCM-SHA384 only, TLS 1.3, no renegotiation, on both TLS listeners, with an RSA
// server certificate as OFB's ICP-Brasil certificates are.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import { testPki } from './helpers/harness.js';
import { startBrazil } from './helpers/brazil.js';

interface Outcome {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  code?: string;
  renegotiation?: string;
}

const { pki } = await testPki();
const ca = await createCa('O=fapi-gateway test, CN=RSA test CA', 'rsa');
const server = await issueCertificate({ subject: 'O=fapi-gateway test, CN=localhost', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server', keyKind: 'rsa' }, ca);
const certFile = path.join(pki.dir, 'rsa-server.pem');
const keyFile = path.join(pki.dir, 'rsa-server-key.pem');
await writeFile(certFile, server.certPem + ca.certPem);
await writeFile(keyFile, server.keyPem, { mode: 0o600 });

const h = await startBrazil({ configure: (config) => void (config.tls = { ...config.tls, cert: certFile, key: keyFile }) });
t.teardown(() => h.close());

/** One handshake (and, when asked, a renegotiation attempt) against a listener. */
function handshake(port: number, options: tls.ConnectionOptions, renegotiate = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.certPem, ...options });
    let connected: Outcome | undefined;
    socket.once('secureConnect', () => {
      const outcome: Outcome = { ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      connected = outcome;
      if (!renegotiate) {
        socket.end();
        return resolve(outcome);
      }
      socket.renegotiate({ rejectUnauthorized: false }, (err) => {
        socket.destroy();
        resolve({ ...outcome, renegotiation: err ? `refused: ${(err as NodeJS.ErrnoException).code ?? err.message}` : 'accepted' });
      });
      // The server refuses by alert or by ignoring the request (OpenSSL's no_renegotiation warning).
      setTimeout(() => {
        socket.destroy();
        resolve({ ...outcome, renegotiation: 'refused: no answer' });
      }, 5000).unref();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(connected ? { ...connected, renegotiation: `refused: ${err.code ?? err.message}` } : { ok: false, code: err.code });
    });
  });
}

for (const listener of ['public', 'mtls'] as const) {
  const port = h.gateway.context.config.listeners[listener].port;
  t.test(`${listener} listener`, async (t) => {
    for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384']) {
      const outcome = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: cipher });
      t.ok(outcome.ok, `TLS 1.2 ${cipher} accepted`);
      t.equal(outcome.cipher, cipher);
    }
    for (const cipher of ['ECDHE-RSA-CHACHA20-POLY1305', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA256', 'DHE-RSA-AES128-GCM-SHA256']) {
      const outcome = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: cipher });
      t.notOk(outcome.ok, `TLS 1.2 ${cipher} refused (${outcome.code})`);
    }
    const tls13 = await handshake(port, {});
    t.equal(tls13.protocol, 'TLSv1.3', 'TLS 1.3 offered');
    const tls11 = await handshake(port, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    t.notOk(tls11.ok, 'TLS 1.1 refused');
    const renegotiation = await handshake(port, { maxVersion: 'TLSv1.2' }, true);
    t.ok(renegotiation.ok);
    t.match(renegotiation.renegotiation, /^refused/, `TLS 1.2 renegotiation refused (${renegotiation.renegotiation})`);
  });
}
