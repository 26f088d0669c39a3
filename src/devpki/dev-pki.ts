import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { createCa, issueCertificate } from './pki.js';

/** The files of a generated development PKI, all inside one folder. */
export interface DevPki {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  signingKeys: string;
  /** The server's private encryption key (request objects), RSA-OAEP-256. */
  encryptionKeys: string;
  clients: Record<'client-one' | 'client-two', { cert: string; key: string; jwk: string }>;
}

export const CLIENT_ONE_DN = 'CN=client-one,O=fapi-gateway demo,C=AU';
export const CLIENT_TWO_DN = 'CN=client-two,O=fapi-gateway demo,C=AU';

export function devPkiFiles(dir: string): DevPki {
  const f = (name: string) => path.join(dir, name);
  return {
    dir,
    ca: f('ca.pem'),
    caKey: f('ca-key.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server-key.pem'),
    signingKeys: f('signing-keys.jwks.json'),
    encryptionKeys: f('encryption-keys.jwks.json'),
    clients: {
      'client-one': { cert: f('client-one.pem'), key: f('client-one-key.pem'), jwk: f('client-one.jwk.json') },
      'client-two': { cert: f('client-two.pem'), key: f('client-two-key.pem'), jwk: f('client-two.jwk.json') },
    },
  };
}

/**
 * Creates, once, a throw-away PKI for running on embedded defaults: a CA, a server certificate for
 * localhost, two client certificates with their keys, each client's private signing JWK and the
 * server's signing keys. Existing files are kept so restarts reuse them.
 */
export async function ensureDevPki(dir: string): Promise<DevPki> {
  const files = devPkiFiles(dir);
  if (await exists(files.signingKeys)) {
    // Dev folders made before encryption keys existed get theirs now.
    if (!(await exists(files.encryptionKeys))) await writeEncryptionKeys(files.encryptionKeys);
    return files;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const ca = await createCa('O=fapi-gateway demo, CN=fapi-gateway development CA');
  const server = await issueCertificate(
    { subject: 'O=fapi-gateway demo, CN=localhost', dns: ['localhost'], ips: ['127.0.0.1', '::1'], usage: 'server' },
    ca,
  );
  await writeFile(files.ca, ca.certPem);
  await writeSecret(files.caKey, ca.keyPem);
  await writeFile(files.serverCert, server.certPem + ca.certPem);
  await writeSecret(files.serverKey, server.keyPem);

  for (const [name, dn] of [['client-one', CLIENT_ONE_DN], ['client-two', CLIENT_TWO_DN]] as const) {
    // Certificates carry the subject in ASN.1 order, the reverse of the RFC 4514 string.
    const issued = await issueCertificate({ subject: dn.split(',').reverse().join(', '), usage: 'client' }, ca);
    await writeFile(files.clients[name].cert, issued.certPem);
    await writeSecret(files.clients[name].key, issued.keyPem);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    await writeSecret(files.clients[name].jwk, JSON.stringify({ ...(await exportJWK(privateKey)), kid: `${name}-es256`, alg: 'ES256', use: 'sig' }, null, 2));
  }

  const signing = [];
  for (const alg of ['ES256', 'PS256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    signing.push({ ...(await exportJWK(privateKey)), kid: `dev-${alg.toLowerCase()}-1`, alg, use: 'sig' });
  }
  await writeSecret(files.signingKeys, JSON.stringify({ keys: signing }, null, 2));
  await writeEncryptionKeys(files.encryptionKeys);
  return files;
}

async function writeEncryptionKeys(file: string): Promise<void> {
  const { privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true, modulusLength: 2048 });
  await writeSecret(file, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'dev-rsa-oaep-256-1', alg: 'RSA-OAEP-256', use: 'enc' }] }, null, 2));
}

/** The public half of a private JWK file, for registering the client. */
export async function publicJwk(file: string): Promise<Record<string, unknown>> {
  const jwk: Record<string, unknown> = JSON.parse(await readFile(file, 'utf8'));
  return Object.fromEntries(Object.entries(jwk).filter(([member]) => !PRIVATE_MEMBERS.has(member)));
}

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi']);

async function writeSecret(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
}

const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);
