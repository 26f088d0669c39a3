/**
 * The throw-away PKI of a conformance run, made once into the run's cache folder (never the
 * repository): a CA, a server certificate for localhost (the gateway and the suite's TLS front),
 * two client certificates, a private PS256 JWKS per client and the gateway's signing key.
 */
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { createCa, issueCertificate } from '../src/devpki/pki.js';
import type { ConformancePki, GatewayFiles } from './description.js';

export interface PkiFiles extends GatewayFiles {
  dir: string;
  serverChain: string;
  clients: Record<1 | 2, { cert: string; key: string; jwks: string; encryptionJwks: string }>;
}

export function pkiFiles(dir: string): PkiFiles {
  const f = (name: string) => path.join(dir, name);
  return {
    dir,
    clientCa: f('ca.pem'),
    serverCert: f('server-chain.pem'),
    serverChain: f('server-chain.pem'),
    serverKey: f('server-key.pem'),
    signingKeys: f('gateway-signing.jwks.json'),
    clients: {
      1: { cert: f('client1.pem'), key: f('client1-key.pem'), jwks: f('client1.jwks.json'), encryptionJwks: f('client1-enc.jwks.json') },
      2: { cert: f('client2.pem'), key: f('client2-key.pem'), jwks: f('client2.jwks.json'), encryptionJwks: f('client2-enc.jwks.json') },
    },
  };
}

/** RSA throughout: the suite (Java) reads the client keys from PEM, and the recipe was proven with RSA. */
export async function ensurePki(dir: string): Promise<PkiFiles> {
  const files = pkiFiles(dir);
  if (await exists(files.signingKeys)) return ensureEncryptionKeys(files);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa('C=AU, O=Conformance Test CA, CN=Conformance Test Root', 'rsa');
  const server = await issueCertificate({ subject: 'C=AU, O=Conformance Test, CN=localhost', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server', keyKind: 'rsa' }, ca);
  await writeFile(files.clientCa, ca.certPem);
  await secret(path.join(dir, 'ca-key.pem'), ca.keyPem);
  await writeFile(files.serverChain, server.certPem + ca.certPem);
  await secret(files.serverKey, server.keyPem);
  for (const n of [1, 2] as const) {
    const issued = await issueCertificate({ subject: `C=AU, O=Conformance Test, CN=conformance-client-${n}`, usage: 'client', keyKind: 'rsa' }, ca);
    await writeFile(files.clients[n].cert, issued.certPem);
    await secret(files.clients[n].key, issued.keyPem);
    await secret(files.clients[n].jwks, JSON.stringify({ keys: [await privateJwk('PS256', `client${n}-ps256`)] }, null, 2));
  }
  // Written last: its presence says the folder is complete.
  await secret(files.signingKeys, JSON.stringify({ keys: [await privateJwk('PS256', 'gw-ps256-1')] }, null, 2));
  return ensureEncryptionKeys(files);
}

/**
 * Each client's RSA `use: enc` key (ID tokens encrypted to the client, as the CDR variants ask),
 * kept apart from the signing JWKS so that PKIs made before it gain one without changing the rest.
 */
async function ensureEncryptionKeys(files: PkiFiles): Promise<PkiFiles> {
  for (const n of [1, 2] as const) {
    if (await exists(files.clients[n].encryptionJwks)) continue;
    const { privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true, modulusLength: 2048 });
    await secret(files.clients[n].encryptionJwks, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: `client${n}-enc`, alg: 'RSA-OAEP-256', use: 'enc' }] }, null, 2));
  }
  return files;
}

export async function readPki(files: PkiFiles): Promise<ConformancePki> {
  const text = (f: string) => readFile(f, 'utf8');
  const client = async (n: 1 | 2) => ({
    certPem: await text(files.clients[n].cert),
    keyPem: await text(files.clients[n].key),
    jwks: JSON.parse(await text(files.clients[n].jwks)),
    encryptionJwks: (await exists(files.clients[n].encryptionJwks)) ? JSON.parse(await text(files.clients[n].encryptionJwks)) : undefined,
  });
  return { caPem: await text(files.clientCa), clients: { 1: await client(1), 2: await client(2) } };
}

async function privateJwk(alg: 'PS256', kid: string): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

const secret = (file: string, content: string) => writeFile(file, content, { mode: 0o600 });
const exists = (file: string) => access(file).then(() => true, () => false);
