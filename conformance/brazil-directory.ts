/**
 * A stand-in for the Open Finance Brasil Directory, for the suite's Brazil DCR plan on loopback
 * (PLANS (d)): OIDC discovery, a token endpoint over mutual TLS (client_credentials, scope
 * directory:software), the software statement assertion endpoint, the statement signing JWKS (the
 * gateway's trust anchor) and the software's JWKS. Its PKI (a Brazil-style client certificate from
 * the run's CA, the client's PS256 keys, the Directory's signing key) is made once into the run's
 * cache folder, never the repository.
 */
import { randomUUID, webcrypto } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { issueCertificate, type Issued } from '../src/devpki/pki.js';
import { x509 } from '../src/tls/x509.js';

export const DIRECTORY_ISSUER = 'fapi-gateway conformance stand-in SSA issuer';
export const DIRECTORY_CLIENT_ID = 'conformance-directory-client';

export interface BrazilDcrFiles {
  cert: string;
  key: string;
  /** The software's private PS256 JWKS (the suite's `client.jwks`). */
  clientJwks: string;
  /** The Directory's private statement signing JWKS. */
  directoryJwks: string;
  orgId: string;
  softwareId: string;
}

/** Makes (once) the Brazil client certificate and keys in `pkiDir`, from the run's CA there. */
export async function ensureBrazilDcrPki(pkiDir: string): Promise<BrazilDcrFiles> {
  const f = (name: string) => path.join(pkiDir, name);
  const idsFile = f('brazil-ids.json');
  const files = { cert: f('brazil-client.pem'), key: f('brazil-client-key.pem'), clientJwks: f('brazil-client.jwks.json'), directoryJwks: f('brazil-directory.jwks.json') };
  if (await exists(idsFile)) return { ...files, ...JSON.parse(await readFile(idsFile, 'utf8')) };
  const ids = { orgId: randomUUID(), softwareId: randomUUID() };
  const caPem = await readFile(f('ca.pem'), 'utf8');
  const caKeyPem = await readFile(f('ca-key.pem'), 'utf8');
  const der = Buffer.from(caKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const caKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign']);
  const ca: Issued = { cert: new x509.X509Certificate(caPem), keys: { privateKey: caKey, publicKey: undefined as never }, certPem: caPem, keyPem: caKeyPem };
  // The OFB certificate standard's subject (ASN.1 order): ICP-Brasil attributes, organizationIdentifier, UID.
  const subject = [
    'C=BR', 'O=ICP-Brasil', '2.5.4.15=Private Organization', '1.3.6.1.4.1.311.60.2.1.3=BR', '2.5.4.5=12345678000199',
    `2.5.4.97=OFBBR-${ids.orgId}`, `0.9.2342.19200300.100.1.1=${ids.softwareId}`, 'CN=conformance-tpp.example',
  ].join(', ');
  const issued = await issueCertificate({ subject, usage: 'client', keyKind: 'rsa' }, ca);
  await writeFile(files.cert, issued.certPem);
  await secret(files.key, issued.keyPem);
  await secret(files.clientJwks, JSON.stringify({ keys: [await privateJwk('brazil-software-ps256')] }, null, 2));
  await secret(files.directoryJwks, JSON.stringify({ keys: [await privateJwk('directory-ps256')] }, null, 2));
  await writeFile(idsFile, JSON.stringify(ids));
  return { ...files, ...ids };
}

export interface StandInDirectory {
  base: string;
  jwksUri: string;
  close(): Promise<void>;
}

/**
 * Serves the Directory on `port`. `redirectUris`: the suite's callbacks the statement lists.
 * Statements are fresh on every request (the suite fetches one per registration and update).
 */
export async function startStandInDirectory(options: { port: number; serverCert: string; serverKey: string; caPem: string; files: BrazilDcrFiles; redirectUris: string[] }): Promise<StandInDirectory> {
  const { files } = options;
  const base = `https://localhost:${options.port}`;
  const directoryJwk = JSON.parse(await readFile(files.directoryJwks, 'utf8')).keys[0] as JWK;
  const signingKey = await importJWK(directoryJwk, 'PS256');
  const publicOf = (jwk: JWK) => Object.fromEntries(Object.entries(jwk).filter(([m]) => !['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(m)));
  const softwareJwks = { keys: JSON.parse(await readFile(files.clientJwks, 'utf8')).keys.map(publicOf) };
  const tokens = new Set<string>();
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));

  const server: Server = createServer(
    { cert: await readFile(options.serverCert), key: await readFile(options.serverKey), ca: options.caPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const url = new URL(req.url ?? '/', base);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        try {
          if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration')
            return json(res, 200, { issuer: base, token_endpoint: `${base}/token`, jwks_uri: `${base}/jwks`, grant_types_supported: ['client_credentials'], token_endpoint_auth_methods_supported: ['tls_client_auth', 'private_key_jwt'] });
          if (req.method === 'GET' && url.pathname === '/jwks') return json(res, 200, { keys: [publicOf(directoryJwk)] });
          if (req.method === 'GET' && url.pathname === `/software/${files.softwareId}/jwks`) return json(res, 200, softwareJwks);
          if (req.method === 'POST' && url.pathname === '/token') {
            const socket = req.socket as TLSSocket;
            if (!socket.authorized) return json(res, 401, { error: 'invalid_client', error_description: 'a client certificate from the run CA is required' });
            const form = new URLSearchParams(Buffer.concat(chunks).toString());
            if (form.get('grant_type') !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
            const token = randomUUID();
            tokens.add(token);
            return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 300, scope: 'directory:software' });
          }
          const assertion = /^\/organisations\/([^/]+)\/softwarestatements\/([^/]+)\/assertion$/.exec(url.pathname);
          if (req.method === 'GET' && assertion) {
            const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
            if (!token || !tokens.has(token)) return json(res, 401, { error: 'invalid_token' });
            if (assertion[1] !== files.orgId || assertion[2] !== files.softwareId) return json(res, 404, { error: 'no such software statement' });
            const now = Math.floor(Date.now() / 1000);
            const ssa = await new SignJWT({
              software_id: files.softwareId,
              org_id: files.orgId,
              org_status: 'Active',
              org_name: 'Conformance TPP',
              software_client_name: 'Conformance suite (Brazil DCR)',
              software_jwks_uri: `${base}/software/${files.softwareId}/jwks`,
              software_redirect_uris: options.redirectUris,
              software_statement_roles: [{ role: 'DADOS', authorisation_domain: 'Open Banking', status: 'Active' }],
              software_mode: 'Live',
            })
              .setProtectedHeader({ alg: 'PS256', kid: directoryJwk.kid, typ: 'JWT' })
              .setIssuer(DIRECTORY_ISSUER)
              .setIssuedAt(now)
              .setJti(randomUUID())
              .sign(signingKey);
            return res.writeHead(200, { 'content-type': 'application/jwt' }).end(ssa);
          }
          json(res, 404, { error: 'not found' });
        } catch (err) {
          json(res, 500, { error: (err as Error).message });
        }
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  return { base, jwksUri: `${base}/jwks`, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

/**
 * The two checks that compare the config with the real sandbox Directory fail against a stand-in and
 * the module goes on (PLANS (d)): expected, in the suite runner's format.
 */
export function expectedFailures(planModules = '*'): Record<string, unknown>[] {
  return ['FAPIBrazilOpenBankingCheckDirectoryDiscoveryUrl', 'FAPIBrazilOpenBankingCheckDirectoryApiBase'].map((condition) => ({
    'test-name': planModules,
    variant: '*',
    'configuration-filename': '*',
    'current-block': 'Obtain access token for directory and retrieve a software statement',
    condition,
    'expected-result': 'failure',
    comment: 'a local stand-in Directory, not the sandbox',
  }));
}

async function privateJwk(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid, alg: 'PS256', use: 'sig' };
}

const secret = (file: string, content: string) => writeFile(file, content, { mode: 0o600 });
const exists = (file: string) => access(file).then(() => true, () => false);
