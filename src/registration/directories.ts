import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import { remoteClientKeys, ClientKeysUnavailableError } from '../clients/remote-keys.js';
import { ConfigError } from '../config/config-error.js';
import type { OutboundFetch } from '../http/outbound-fetch.js';
import { OAuthError } from '../oauth/errors.js';
import { RegistrationError } from './errors.js';

interface Directory {
  issuer: string;
  keys: JWTVerifyGetKey;
  /** The statement signing algorithms this directory uses; the profile's when absent. */
  algorithms?: string[];
}

/** A trusted directory as configured: `at` is the key path its problems are reported under. */
export interface DirectorySettings {
  issuer: string;
  jwksFile?: string;
  jwksUri?: string;
  algorithms?: string[];
  at: string;
}

export interface VerifiedStatement {
  directory: string;
  claims: Record<string, unknown>;
}

/** Clock skew allowed on a statement's iat and exp. */
const TOLERANCE_SECONDS = 10;

/**
 * The directories whose software statements registration trusts (RFC 7591 §2.3). Keys come from a
 * file (read at start) or a URL (fetched with the guarded fetcher, cached, fetched again for an
 * unknown kid at most every 30 s).
 */
export class TrustedDirectories {
  private constructor(private readonly directories: Map<string, Directory>) {}

  get size(): number {
    return this.directories.size;
  }

  static async load(settings: DirectorySettings[], fetch: OutboundFetch): Promise<TrustedDirectories> {
    const map = new Map<string, Directory>();
    for (const d of settings) {
      const at = d.at;
      if (map.has(d.issuer)) throw new ConfigError(`${at}.issuer`, `duplicate issuer "${d.issuer}"`);
      if ((d.jwksFile === undefined) === (d.jwksUri === undefined)) throw new ConfigError(at, 'give exactly one of jwksFile, jwksUri');
      const keys = d.jwksFile !== undefined ? createLocalJWKSet(await readJwks(d.jwksFile, `${at}.jwksFile`)) : remoteClientKeys(d.jwksUri!, fetch);
      map.set(d.issuer, { issuer: d.issuer, keys, ...(d.algorithms ? { algorithms: d.algorithms } : {}) });
    }
    return new TrustedDirectories(map);
  }

  /** Verifies a statement: a directory's issuer, its signature, not older than `maxAgeSeconds`. */
  async verify(statement: string, maxAgeSeconds: number, algorithms: string[]): Promise<VerifiedStatement> {
    let issuer: unknown;
    try {
      issuer = decodeJwt(statement).iss;
    } catch {
      throw new RegistrationError('invalid_software_statement', 'software_statement is not a JWT');
    }
    const directory = typeof issuer === 'string' ? this.directories.get(issuer) : undefined;
    if (!directory) throw new RegistrationError('unapproved_software_statement', 'software_statement is not issued by a trusted directory');
    try {
      const { payload } = await jwtVerify(statement, directory.keys, {
        issuer: directory.issuer,
        algorithms: directory.algorithms ? directory.algorithms.filter((alg) => algorithms.includes(alg)) : algorithms,
        maxTokenAge: maxAgeSeconds,
        clockTolerance: TOLERANCE_SECONDS,
        requiredClaims: ['iss', 'iat'],
      });
      return { directory: directory.issuer, claims: payload as Record<string, unknown> };
    } catch (err) {
      if (err instanceof ClientKeysUnavailableError)
        throw new OAuthError('temporarily_unavailable', "the directory's keys cannot be fetched; retry later", 503, { 'retry-after': '30' });
      throw new RegistrationError('invalid_software_statement', describe(err));
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'software_statement is signed by a key the directory does not publish';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'software_statement signature is invalid';
  // jose reports a statement past maxTokenAge as expired, naming iat: that is "too old".
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? 'software_statement is too old (iat)' : 'software_statement has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return err.claim === 'iat' && err.reason === 'check_failed' ? 'software_statement is too old (iat)' : `software_statement ${err.claim} is not acceptable`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'software_statement signing algorithm is not allowed';
  return 'software_statement cannot be verified';
}

export async function readJwks(file: string, at: string): Promise<{ keys: JWK[] }> {
  let jwks: { keys?: unknown };
  try {
    jwks = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(at, `cannot read a JWKS from ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) throw new ConfigError(at, `${file} holds no keys`);
  if (jwks.keys.some((k: JWK) => 'd' in k)) throw new ConfigError(at, `${file} holds private key material; give the public keys only`);
  return jwks as { keys: JWK[] };
}
