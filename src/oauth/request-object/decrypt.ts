import { compactDecrypt, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import type { Client } from '../../clients/client.js';
import type { EncryptionKeys } from '../../keys/encryption-keys.js';
import { RequestObjectError } from './errors.js';
import { REQUEST_OBJECT_ENCRYPTION_ALGS, REQUEST_OBJECT_ENCRYPTION_ENCS } from './policy.js';

/** A compact JWE has five parts, a JWS three. */
export const isCompactJwe = (token: string): boolean => token.split('.').length === 5;

/**
 * The signed request object inside an encrypted one (a nested JWT, RFC 9101 §6.1), decrypted with the
 * server's `use: enc` key the JWE header names. A JWE whose content is not a signed JWT is refused:
 * encryption says nothing about who wrote the request.
 */
export async function decryptRequestObject(jwe: string, client: Client, keys: EncryptionKeys | undefined): Promise<string> {
  if (!keys) throw new RequestObjectError('encryption_not_supported', 'encrypted request objects are not accepted');
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jwe);
  } catch {
    throw new RequestObjectError('malformed', 'request is not a valid JWE');
  }
  const registered = client.requestObject.encryption;
  const algs = registered ? [registered.alg] : [...REQUEST_OBJECT_ENCRYPTION_ALGS];
  const encs = registered ? [registered.enc] : [...REQUEST_OBJECT_ENCRYPTION_ENCS];
  if (typeof header.alg !== 'string' || !algs.includes(header.alg)) throw new RequestObjectError('encryption_alg_not_allowed', `request object encryption alg must be one of ${algs.join(', ')}`);
  if (typeof header.enc !== 'string' || !encs.includes(header.enc)) throw new RequestObjectError('encryption_enc_not_allowed', `request object encryption enc must be one of ${encs.join(', ')}`);
  const key = keys.keyFor(header);
  if (!key) throw new RequestObjectError('no_decryption_key', 'no encryption key of this server matches the request object (kid, alg)');
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, key.privateKey, { keyManagementAlgorithms: algs, contentEncryptionAlgorithms: encs }));
  } catch {
    throw new RequestObjectError('undecryptable', 'the request object cannot be decrypted');
  }
  const inner = Buffer.from(plaintext).toString('utf8');
  if (inner.split('.').length !== 3) throw new RequestObjectError('not_signed', 'an encrypted request object must contain a signed JWT');
  return inner;
}
