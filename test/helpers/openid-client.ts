import { readFile } from 'node:fs/promises';
import { importJWK, type JWK } from 'jose';
import * as client from 'openid-client';
import type { DevPki } from '../../src/devpki/dev-pki.js';

/** openid-client's private_key_jwt authentication with the dev PKI's key for `clientId`. */
export async function privateKeyJwt(pki: DevPki, clientId: 'client-one' | 'client-two'): Promise<client.ClientAuth> {
  const jwk = JSON.parse(await readFile(pki.clients[clientId].jwk, 'utf8')) as JWK;
  return client.PrivateKeyJwt({ key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid });
}
