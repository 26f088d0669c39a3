import { CompactEncrypt, EncryptJWT, type JWTPayload } from 'jose';
import type { Client } from '../clients/client.js';
import { ClientEncryptionKeyMissing } from '../clients/encryption-keys.js';
import { ClientKeysUnavailableError } from '../clients/remote-keys.js';
import type { ResponseEncryption } from '../clients/response-protection.js';
import type { GatewayContext } from '../context.js';
import { OAuthError } from '../oauth/errors.js';

const encoder = new TextEncoder();

/**
 * Encrypts a response to the client's `use: enc` key. A signed JWT becomes a nested JWT (`cty: JWT`,
 * signed then encrypted); claims alone become an encrypted JWT. The JWE header names the client's
 * key by `kid`, so a client with several can pick the right one.
 */
export async function encryptToClient(client: Client, content: string | JWTPayload, encryption: ResponseEncryption, what: string): Promise<string> {
  const { key, kid } = await encryptionKey(client, encryption.alg, what);
  const header = { alg: encryption.alg, enc: encryption.enc, ...(kid !== undefined ? { kid } : {}) };
  if (typeof content === 'string') return new CompactEncrypt(encoder.encode(content)).setProtectedHeader({ ...header, cty: 'JWT' }).encrypt(key);
  return new EncryptJWT(content).setProtectedHeader(header).encrypt(key);
}

/** `encryptToClient`, counted by what was encrypted and whether it could be. */
export async function encryptedForClient(
  ctx: GatewayContext,
  client: Client,
  content: string | JWTPayload,
  encryption: ResponseEncryption,
  what: 'id_token' | 'userinfo' | 'authorization_response',
): Promise<string> {
  try {
    const encrypted = await encryptToClient(client, content, encryption, what.replace('_', ' '));
    ctx.metrics?.encryptedResponses.inc({ what, outcome: 'encrypted' });
    return encrypted;
  } catch (err) {
    ctx.metrics?.encryptedResponses.inc({ what, outcome: 'failed' });
    throw err;
  }
}

async function encryptionKey(client: Client, alg: string, what: string) {
  try {
    if (!client.encryptionKeys) throw new ClientEncryptionKeyMissing('the client has no registered keys');
    return await client.encryptionKeys(alg);
  } catch (err) {
    if (!(err instanceof ClientEncryptionKeyMissing || err instanceof ClientKeysUnavailableError)) throw err;
    // The client registered encryption and its key is missing or unreachable: nothing may go out in the clear.
    const failure = new OAuthError('invalid_request', `the ${what} cannot be encrypted to the client: ${err.message}`);
    failure.audit = 'response_encryption_failed';
    throw failure;
  }
}
