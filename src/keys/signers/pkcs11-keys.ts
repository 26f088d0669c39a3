import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { base64url, importJWK, type JWK } from 'jose';
import { ConfigError } from '../../config/config-error.js';
import type { ConfigFile, Profile } from '../../config/schema.js';
import { keyWeakness } from '../key-strength.js';
import type { SigningKey } from '../signing-keys.js';
import { Pkcs11Token, type Handle } from './pkcs11-token.js';
import { externalSigner } from './signer.js';
import { P256_EC_PARAMS } from './pkcs11-generate.js';

export type Pkcs11SignerConfig = NonNullable<ConfigFile['keys']['signer']>;


/**
 * The configured keys of a PKCS#11 token: each private key found by its label and used where it
 * is (it must be non-extractable), its public half read from the public key object of the same
 * label for the JWKS.
 */
export async function loadPkcs11Keys(config: Pkcs11SignerConfig, profile: Profile): Promise<{ keys: SigningKey[] }> {
  const token = await Pkcs11Token.open({ module: config.module, tokenLabel: config.tokenLabel, slot: config.slot, pin: await readPin(config.pin) });
  const { lib } = token;
  const kids = new Set<string>();
  const keys: SigningKey[] = [];
  for (const [i, entry] of config.keys.entries()) {
    const at = `keys.signer.keys[${i}]`;
    if (kids.has(entry.kid)) throw new ConfigError(`${at}.kid`, `duplicate kid "${entry.kid}"`);
    kids.add(entry.kid);
    if (!profile.algorithms.signing.includes(entry.alg)) throw new ConfigError(`${at}.alg`, `must be one of ${profile.algorithms.signing.join(', ')} (profile ${profile.name})`);
    const privateKey = token.findObject(lib.CKO_PRIVATE_KEY, entry.label, `${at}.label`);
    if (!privateKey) throw new ConfigError(`${at}.label`, `no private key labelled "${entry.label}" in the token`);
    const publicObject = token.findObject(lib.CKO_PUBLIC_KEY, entry.label, `${at}.label`);
    if (!publicObject) throw new ConfigError(`${at}.label`, `no public key labelled "${entry.label}" in the token (the JWKS is built from it)`);
    const [keyType, canSign, extractable] = token.attributes(privateKey, [lib.CKA_KEY_TYPE, lib.CKA_SIGN, lib.CKA_EXTRACTABLE]);
    const expectedType = entry.alg === 'PS256' ? lib.CKK_RSA : lib.CKK_EC;
    if (keyType.readUInt32LE(0) !== expectedType) throw new ConfigError(`${at}.alg`, `the key labelled "${entry.label}" is not an ${entry.alg === 'PS256' ? 'RSA' : 'EC'} key`);
    if (!canSign[0]) throw new ConfigError(`${at}.label`, `the key labelled "${entry.label}" may not sign (CKA_SIGN is false)`);
    if (extractable[0]) throw new ConfigError(`${at}.label`, `the key labelled "${entry.label}" is extractable: signing keys must not leave the token (generate them with CKA_EXTRACTABLE false)`);
    const jwk = entry.alg === 'PS256' ? rsaPublicJwk(token, publicObject) : ecPublicJwk(token, publicObject, `${at}.label`);
    const weakness = keyWeakness(createPublicKey({ key: jwk as never, format: 'jwk' }));
    if (weakness) throw new ConfigError(`${at}.label`, weakness);
    const publicJwk: JWK = { ...jwk, kid: entry.kid, use: 'sig', alg: entry.alg };
    keys.push({
      ...externalSigner({ kid: entry.kid, alg: entry.alg, signBytes: signWith(token, privateKey, entry.alg, jwk) }),
      publicJwk,
      publicKey: (await importJWK(publicJwk, entry.alg)) as CryptoKey,
    });
  }
  return { keys };
}

function signWith(token: Pkcs11Token, key: Handle, alg: 'PS256' | 'ES256', jwk: JWK): (input: Uint8Array) => Promise<Uint8Array> {
  const { lib } = token;
  if (alg === 'PS256') {
    // RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5); the token hashes.
    const mechanism = { mechanism: lib.CKM_SHA256_RSA_PKCS_PSS, parameter: { type: lib.CK_PARAMS_RSA_PSS, hashAlg: lib.CKM_SHA256, mgf: lib.CKG_MGF1_SHA256, saltLen: 32 } };
    const bytes = base64url.decode(jwk.n!).length;
    return (input) => token.sign(key, mechanism, Buffer.from(input), bytes);
  }
  // CKM_ECDSA signs a digest and returns r||s, each 32 bytes for P-256: the JWS form (RFC 7518 §3.4).
  const mechanism = { mechanism: lib.CKM_ECDSA };
  return (input) => token.sign(key, mechanism, createHash('sha256').update(input).digest(), 64);
}

function rsaPublicJwk(token: Pkcs11Token, object: Handle): JWK {
  const [modulus, exponent] = token.attributes(object, [token.lib.CKA_MODULUS, token.lib.CKA_PUBLIC_EXPONENT]);
  return { kty: 'RSA', n: base64url.encode(stripLeadingZeros(modulus)), e: base64url.encode(stripLeadingZeros(exponent)) };
}

function ecPublicJwk(token: Pkcs11Token, object: Handle, where: string): JWK {
  const [params, point] = token.attributes(object, [token.lib.CKA_EC_PARAMS, token.lib.CKA_EC_POINT]);
  if (!params.equals(P256_EC_PARAMS)) throw new ConfigError(where, 'ES256 needs a P-256 key');
  // CKA_EC_POINT is the uncompressed point 04||x||y, wrapped in a DER OCTET STRING (04 41 ...) by most tokens.
  const raw = point.length === 67 && point[0] === 0x04 && point[1] === 0x41 ? point.subarray(2) : point;
  if (raw.length !== 65 || raw[0] !== 0x04) throw new ConfigError(where, 'the public key is not an uncompressed P-256 point');
  return { kty: 'EC', crv: 'P-256', x: base64url.encode(raw.subarray(1, 33)), y: base64url.encode(raw.subarray(33)) };
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

async function readPin(pin: Pkcs11SignerConfig['pin']): Promise<string> {
  if ('env' in pin) {
    const value = process.env[pin.env];
    if (!value) throw new ConfigError('keys.signer.pin.env', `the environment variable ${pin.env} is not set`);
    return value;
  }
  try {
    return (await readFile(pin.file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError('keys.signer.pin.file', `cannot read ${pin.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
