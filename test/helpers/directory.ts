import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { DevPki } from '../../src/devpki/dev-pki.js';

/**
 * A software-statement directory (as the CDR Register or the OFB Directory) and the third parties'
 * key endpoints, over real HTTPS on loopback (the dev PKI's server certificate: trust it with
 * NODE_EXTRA_CA_CERTS). Statements are signed with the directory's key; `signedBy: 'unknown'` signs
 * with a key the directory does not publish.
 */
export interface FakeDirectory {
  issuer: string;
  jwksUri: string;
  base: string;
  statement(claims: Record<string, unknown>, options?: { signedBy?: 'directory' | 'unknown' | 'rotated'; iat?: number; issuer?: string }): Promise<string>;
  /** Publishes a second key ('directory-2', signing with `signedBy: 'rotated'`), as a directory rotating its keys does. */
  rotate(): Promise<void>;
  /** When the directory's JWKS was last fetched (ms), and how often. */
  jwksFetches: { count: number; lastAt: number };
  /** Serves `jwks` at a fresh URL of this server; returns the URL. */
  serveJwks(jwks: { keys: JWK[] }): string;
  close(): Promise<void>;
}

export const DIRECTORY_ISSUER = 'https://directory.test.example';

export async function startDirectory(pki: DevPki): Promise<FakeDirectory> {
  const [directoryKey, unknownKey, rotatedKey] = await Promise.all([generateKeyPair('PS256'), generateKeyPair('PS256'), generateKeyPair('PS256')]);
  const jwksFetches = { count: 0, lastAt: 0 };
  const publicJwk = { ...(await exportJWK(directoryKey.publicKey)), kid: 'directory-1', alg: 'PS256', use: 'sig' };
  const documents = new Map<string, string>([['/directory/jwks.json', JSON.stringify({ keys: [publicJwk] })]]);
  const server: Server = createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, (req, res) => {
    const body = documents.get(req.url ?? '');
    if (req.url === '/directory/jwks.json') Object.assign(jwksFetches, { count: jwksFetches.count + 1, lastAt: Date.now() });
    if (body === undefined) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    issuer: DIRECTORY_ISSUER,
    jwksUri: `${base}/directory/jwks.json`,
    base,
    async statement(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = { iss: options.issuer ?? DIRECTORY_ISSUER, iat: options.iat ?? now, jti: randomUUID(), ...claims } as JWTPayload;
      const [kid, key] =
        options.signedBy === 'unknown' ? ['not-published', unknownKey] : options.signedBy === 'rotated' ? ['directory-2', rotatedKey] : ['directory-1', directoryKey];
      return new SignJWT(payload).setProtectedHeader({ alg: 'PS256', kid, typ: 'JWT' }).sign(key.privateKey);
    },
    async rotate() {
      const second = { ...(await exportJWK(rotatedKey.publicKey)), kid: 'directory-2', alg: 'PS256', use: 'sig' };
      documents.set('/directory/jwks.json', JSON.stringify({ keys: [publicJwk, second] }));
    },
    jwksFetches,
    serveJwks(jwks) {
      const path = `/keys/${randomUUID()}.json`;
      documents.set(path, JSON.stringify(jwks));
      return base + path;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A signing key pair for a third party's client, with its public JWKS. */
export async function clientKeys(kid = `tpp-${randomUUID().slice(0, 8)}`): Promise<{ privateKey: CryptoKey; kid: string; jwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey: privateKey as CryptoKey, kid, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } };
}

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');
