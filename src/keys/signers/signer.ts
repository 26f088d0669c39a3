import type { JWTPayload } from 'jose';

/** What the protected header may carry besides `alg` and `kid`, which the signer sets. */
export interface JwsHeaderFields {
  typ?: string;
}

/**
 * One signing key, wherever its private half lives: a file the process imported, a PKCS#11 token,
 * a cloud KMS. Every signature the server makes (access tokens, ID tokens, JARM, userinfo and
 * ecosystem responses) goes through this interface.
 */
export interface Signer {
  readonly kid: string;
  readonly alg: string;
  /** A compact JWS of `claims`; the protected header is `{ alg, kid, ...header }`. */
  signJwt(claims: JWTPayload, header?: JwsHeaderFields): Promise<string>;
}

/**
 * A key whose private half cannot leave its device (HSM, KMS): it signs the bytes it is given with
 * `alg` and returns the JWS signature (for ES256 the raw r||s, for PS256 the RSASSA-PSS signature).
 */
export interface ExternalSigningKey {
  readonly kid: string;
  readonly alg: string;
  signBytes(signingInput: Uint8Array): Promise<Uint8Array>;
}

/**
 * The JWS around a key that signs bytes (a device's, or the keys file's through node:crypto): the
 * base64url parts are built here and the key signs `BASE64URL(header) || '.' || BASE64URL(payload)`
 * (RFC 7515 §5.1). The same compact JWS as jose's SignJWT: the header and claims as JSON.stringify
 * writes them.
 */
export function externalSigner(key: ExternalSigningKey): Signer {
  return {
    kid: key.kid,
    alg: key.alg,
    async signJwt(claims, header) {
      const protectedHeader = Buffer.from(JSON.stringify({ ...header, alg: key.alg, kid: key.kid })).toString('base64url');
      const signingInput = `${protectedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      const signature = await key.signBytes(Buffer.from(signingInput, 'ascii'));
      return `${signingInput}.${Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64url')}`;
    },
  };
}
