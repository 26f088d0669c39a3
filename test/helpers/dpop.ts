import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** A DPoP key pair of a test client, with its public JWK and thumbprint. */
export interface DpopKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  jkt: string;
  alg: string;
}

export async function dpopKey(alg: 'ES256' | 'PS256' | 'EdDSA' = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk), alg };
}

export const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

export interface ProofOptions {
  htm: string;
  htu: string;
  /** The access token the proof is for (adds `ath`). */
  token?: string;
  nonce?: string;
  /** Claims to add, or to remove (undefined). */
  claims?: Record<string, unknown>;
  /** Header fields to add, or to remove (undefined). */
  header?: Record<string, unknown>;
  /** Sign with this key instead (e.g. a symmetric key for HS256). */
  signingKey?: CryptoKey | Uint8Array;
}

/** A DPoP proof (RFC 9449 §4.2), valid unless the options break it. */
export async function proof(key: DpopKey, options: ProofOptions): Promise<string> {
  const payload: Record<string, unknown> = { jti: randomUUID(), htm: options.htm, htu: options.htu, iat: Math.floor(Date.now() / 1000) };
  if (options.token !== undefined) payload.ath = ath(options.token);
  if (options.nonce !== undefined) payload.nonce = options.nonce;
  Object.assign(payload, options.claims);
  const header: Record<string, unknown> = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...options.header };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  return new SignJWT(payload).setProtectedHeader(header as never).sign(options.signingKey ?? key.privateKey);
}

/** The same proof with its signature's first character changed. */
export function tamper(jws: string): string {
  const [h, p, s] = jws.split('.');
  return `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
}

/**
 * The refusal checklist of RFC 9449 §4.3 (and the suite's dpop-negative-tests), as proofs built from a
 * valid one's options. `extra` names cases that need a token (ath) or nonces.
 */
export async function badProofs(key: DpopKey, base: ProofOptions): Promise<Array<[string, string]>> {
  const now = Math.floor(Date.now() / 1000);
  const other = await dpopKey('ES256');
  const { privateKey: rsaPrivate } = await generateKeyPair('PS256', { extractable: true });
  const rsaPrivateJwk = await exportJWK(rsaPrivate);
  const cases: Array<[string, Promise<string> | string]> = [
    ['wrong typ', proof(key, { ...base, header: { typ: 'JWT' } })],
    ['no typ', proof(key, { ...base, header: { typ: undefined } })],
    ['alg none', unsigned(key, base)],
    ['symmetric alg (HS256)', proof(key, { ...base, header: { alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA' } }, signingKey: new TextEncoder().encode('secret-secret-secret-secret-secret') })],
    ['RS256 (not a FAPI alg)', proof(key, { ...base, header: { alg: 'RS256', jwk: { ...rsaPrivateJwk, d: undefined, p: undefined, q: undefined, dp: undefined, dq: undefined, qi: undefined } }, signingKey: (await generateKeyPair('RS256')).privateKey })],
    ['private key in jwk', proof({ ...key, alg: 'PS256', privateKey: rsaPrivate }, { ...base, header: { jwk: rsaPrivateJwk } })],
    ['no jwk', proof(key, { ...base, header: { jwk: undefined } })],
    ['bad signature', tamper(await proof(key, base))],
    ['signed by another key than its jwk', proof({ ...key, privateKey: other.privateKey }, base)],
    ['wrong htm', proof(key, { ...base, htm: base.htm === 'POST' ? 'GET' : 'POST' })],
    ['wrong htu', proof(key, { ...base, htu: base.htu.replace(/\/[^/]*$/, '/elsewhere') })],
    ['htu of another host', proof(key, { ...base, htu: base.htu.replace('localhost', 'example.com') })],
    ['iat one hour ago', proof(key, { ...base, claims: { iat: now - 3600 } })],
    ['iat too old (61 s)', proof(key, { ...base, claims: { iat: now - 90 } })],
    ['iat too far ahead (one hour)', proof(key, { ...base, claims: { iat: now + 3600 } })],
    ['iat 30 s ahead', proof(key, { ...base, claims: { iat: now + 30 } })],
    ['no iat', proof(key, { ...base, claims: { iat: undefined } })],
    ['no jti', proof(key, { ...base, claims: { jti: undefined } })],
    ['no htm', proof(key, { ...base, claims: { htm: undefined } })],
    ['no htu', proof(key, { ...base, claims: { htu: undefined } })],
    ['not a JWT', 'not-a-jwt'],
  ];
  return Promise.all(cases.map(async ([name, p]) => [name, await p] as [string, string]));
}

async function unsigned(key: DpopKey, base: ProofOptions): Promise<string> {
  const signed = await proof(key, base);
  const [, payload] = signed.split('.');
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })).toString('base64url');
  return `${header}.${payload}.`;
}
