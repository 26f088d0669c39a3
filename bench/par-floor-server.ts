/**
 * The floor under `bench:par`: what any PAR endpoint on Node pays whatever its design. A bare
 * node:https server with the gateway's TLS policy and mutual TLS reads the form, checks the client
 * assertion's ES256 signature with node:crypto (no claims, no replay check, no store) and answers
 * 201 with a request_uri. A reference for the ratio, never a product path: it trusts the client's
 * key from its argument and nothing else.
 *   node --import tsx bench/par-floor-server.ts CERT KEY CA PUBLIC_JWK_JSON PORT
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { tlsPolicy } from '../src/tls/policy.js';

const [cert, key, ca, jwk, port] = process.argv.slice(2);
const clientKey = createPublicKey({ key: JSON.parse(jwk), format: 'jwk' });
const tls = { ...tlsPolicy({ tls: {} } as never), cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: false };

function signedByClient(assertion: string | null): boolean {
  const parts = assertion?.split('.');
  if (!parts || parts.length !== 3) return false;
  return verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: clientKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
}

https
  .createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (req.url !== '/par' || !signedByClient(form.get('client_assertion'))) {
        res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"error":"invalid_client"}');
        return;
      }
      const body = JSON.stringify({ request_uri: `urn:ietf:params:oauth:request_uri:${randomBytes(32).toString('base64url')}`, expires_in: 60 });
      res.writeHead(201, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
