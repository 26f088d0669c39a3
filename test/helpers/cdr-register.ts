import { PAIRWISE_SECRET } from './cdr.js';
import { createHash, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { DevPki } from '../../src/devpki/dev-pki.js';

export const PRODUCTS_PATH = '/cdr-register/v1/all/data-recipients/brands/software-products/status';
export const RECIPIENTS_PATH = '/cdr-register/v1/all/data-recipients/status';

/**
 * A fake CDR Register over real HTTPS on loopback (the dev PKI's server certificate: trust it with
 * NODE_EXTRA_CA_CERTS): its JWKS, the software product and data recipient status lists (with ETags,
 * answering 304 to a matching If-None-Match, or failing on demand), software statements signed PS256
 * and the self-signed JWTs it calls the holders' admin endpoints with. It also serves the recipients'
 * own JWKS (a statement's jwks_uri).
 */
export interface FakeCdrRegister {
  base: string;
  jwksUri: string;
  productsUri: string;
  recipientsUri: string;
  setProduct(softwareId: string, status: string): void;
  setRecipient(legalEntityId: string, status: string): void;
  /** Status lists answer 500 while true. */
  failing: boolean;
  /** Fetches of the status lists: all, and those answered 304. */
  fetches: { total: number; notModified: number; ifNoneMatch: number };
  statement(claims: Record<string, unknown>, options?: { signedBy?: 'register' | 'unknown'; iat?: number; exp?: number; issuer?: string }): Promise<string>;
  adminJwt(aud: string, options?: { jti?: string; signedBy?: 'register' | 'unknown'; issuer?: string; exp?: number }): Promise<string>;
  /** Serves a recipient's JWKS at a fresh URL of this server; returns the URL. */
  serveJwks(jwks: { keys: JWK[] }): string;
  close(): Promise<void>;
}

export async function startCdrRegister(pki: DevPki): Promise<FakeCdrRegister> {
  const [registerKey, unknownKey] = await Promise.all([generateKeyPair('PS256'), generateKeyPair('PS256')]);
  const publicJwk = { ...(await exportJWK(registerKey.publicKey)), kid: 'register-1', alg: 'PS256', use: 'sig' };
  const documents = new Map<string, string>([['/cdr-register/v1/jwks', JSON.stringify({ keys: [publicJwk] })]]);
  const products = new Map<string, string>();
  const recipients = new Map<string, string>();
  const fetches = { total: 0, notModified: 0, ifNoneMatch: 0 };
  const state = { failing: false };

  const statusDocument = (path: string) =>
    path === PRODUCTS_PATH
      ? { data: [...products].map(([softwareProductId, status]) => ({ softwareProductId, status })), links: { self: path }, meta: {} }
      : { data: [...recipients].map(([legalEntityId, status]) => ({ legalEntityId, status })), links: { self: path }, meta: {} };

  const server: Server = createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, (req, res) => {
    const path = req.url ?? '';
    if (path === PRODUCTS_PATH || path === RECIPIENTS_PATH) {
      fetches.total++;
      if (state.failing) return res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[]}');
      const body = JSON.stringify(statusDocument(path));
      const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
      if (req.headers['if-none-match'] !== undefined) fetches.ifNoneMatch++;
      if (req.headers['if-none-match'] === etag) {
        fetches.notModified++;
        return res.writeHead(304, { etag }).end();
      }
      return res.writeHead(200, { 'content-type': 'application/json', etag, 'x-v': String(req.headers['x-v'] ?? '') }).end(body);
    }
    const body = documents.get(path);
    if (body === undefined) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://localhost:${(server.address() as AddressInfo).port}`;
  const sign = (payload: JWTPayload, signedBy: 'register' | 'unknown' = 'register') =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'PS256', kid: signedBy === 'unknown' ? 'not-published' : 'register-1', typ: 'JWT' })
      .sign(signedBy === 'unknown' ? unknownKey.privateKey : registerKey.privateKey);

  return {
    base,
    jwksUri: `${base}/cdr-register/v1/jwks`,
    productsUri: base + PRODUCTS_PATH,
    recipientsUri: base + RECIPIENTS_PATH,
    setProduct: (id, status) => void products.set(id, status),
    setRecipient: (id, status) => void recipients.set(id, status),
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    fetches,
    statement(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const iat = options.iat ?? now;
      return sign({ iss: options.issuer ?? 'cdr-register', iat, exp: options.exp ?? iat + 600, jti: randomUUID(), ...claims }, options.signedBy);
    },
    adminJwt(aud, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const iss = options.issuer ?? 'cdr-register';
      return sign({ iss, sub: iss, aud, iat: now, exp: options.exp ?? now + 300, jti: options.jti ?? randomUUID() }, options.signedBy);
    },
    serveJwks(jwks) {
      const path = `/recipients/${randomUUID()}/jwks`;
      documents.set(path, JSON.stringify(jwks));
      return base + path;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Turns a test config into a CDR data holder's (`profile: cdr`) trusting `register`: PS256/ES256
 * signing keys only (written to `dir`), client-one as the only config client, registration on with
 * the CDS scopes the tests use, loopback allowed for the Register and the recipients' keys.
 */
export async function configureCdr(config: Record<string, any>, pki: DevPki, register: FakeCdrRegister, dir: string, pollSeconds: number): Promise<void> {
  const signing = JSON.parse(await readFile(pki.signingKeys, 'utf8')) as { keys: JWK[] };
  const signingFile = path.join(dir, 'signing.jwks.json');
  await writeFile(signingFile, JSON.stringify({ keys: signing.keys.filter((k) => k.alg === 'PS256' || k.alg === 'ES256') }));
  const loopback = ['127.0.0.0/8', '::1'];
  config.keys = { signing: signingFile };
  config.profile = 'cdr';
  config.subjects = { pairwiseSecret: PAIRWISE_SECRET };
  config.clients = config.clients.filter((c: { client_id: string }) => c.client_id === 'client-one');
  config.registration = {
    enabled: true,
    scopes: ['openid', 'profile', 'bank:accounts.basic:read', 'cdr:registration'],
    allowPrivateAddresses: loopback,
    rateLimit: { perIpPerMinute: 10_000, perMinute: 10_000 },
  };
  config.ecosystem = {
    register: {
      jwksUri: register.jwksUri,
      softwareProductStatusUri: register.productsUri,
      dataRecipientStatusUri: register.recipientsUri,
      pollSeconds: { min: pollSeconds, max: pollSeconds },
      allowPrivateAddresses: loopback,
    },
  };
}
