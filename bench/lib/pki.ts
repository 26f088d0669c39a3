import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { ensureDevPki, publicJwk, type DevPki } from '../../src/devpki/dev-pki.js';

/** A throw-away dev PKI (CA, server and client certificates, signing keys) in a temp folder. */
export interface BenchPki {
  dir: string;
  pki: DevPki;
  ca: Buffer;
  /** client-one's TLS credentials and its private signing JWK (for client assertions). */
  clientOne: { cert: Buffer; key: Buffer; jwk: JWK; publicJwk: JWK };
  remove(): Promise<void>;
}

export async function benchPki(): Promise<BenchPki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-bench-'));
  const pki = await ensureDevPki(dir);
  const files = pki.clients['client-one'];
  return {
    dir,
    pki,
    ca: await readFile(pki.ca),
    clientOne: {
      cert: await readFile(files.cert),
      key: await readFile(files.key),
      jwk: JSON.parse(await readFile(files.jwk, 'utf8')) as JWK,
      publicJwk: (await publicJwk(files.jwk)) as JWK,
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
