import { createHash } from 'node:crypto';
import { createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose';
import { checkPublicJwk, localEncryptionKeys, remoteEncryptionKeys } from './encryption-keys.js';
import { remoteClientKeys, type RemoteClientKeys } from './remote-keys.js';
import { responseTypesOffered } from '../oauth/response-types/response-type.js';
import { responseProtection } from './response-protection.js';
import { requestObjectRules } from '../oauth/request-object/client-rules.js';
import { ConfigError } from '../config/config-error.js';
import { ClientSchema, type ClientMetadata, type Profile } from '../config/schema.js';
import { validate } from '../config/validate.js';
import { fapi1AdvancedProfile } from '../config/profile.js';
import { normalizeDnString } from '../tls/distinguished-name.js';
import type { Client, ClientAuthMethod, SanType } from './client.js';
import { subjectTypeOf } from '../subjects/subject-identifiers.js';

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const SAN_FIELDS: Record<string, SanType> = {
  tls_client_auth_san_dns: 'dns',
  tls_client_auth_san_uri: 'uri',
  tls_client_auth_san_ip: 'ip',
  tls_client_auth_san_email: 'email',
};

export interface ClientValidationOptions {
  /**
   * Fetches the JWKS at a client's jwks_uri (registration and the CLI: the client must show usable
   * keys before it is stored). Config clients are not fetched at start: a directory that is down
   * must not stop the gateway.
   */
  fetchJwks?: (uri: string) => Promise<unknown>;
  /** Builds the verifier of a client's jwks_uri keys (registered clients use the guarded fetcher). */
  remoteKeys?: (uri: string) => RemoteClientKeys;
}

/**
 * The one check every client passes, whatever its source (config file, registration, CLI): the
 * metadata's shape, then its values against the profile. Throws a ConfigError naming the key path
 * (`at` is its prefix); registration turns that into invalid_client_metadata / invalid_redirect_uri.
 */
export async function validateClientMetadata(input: unknown, profile: Profile, at: string, options: ClientValidationOptions = {}): Promise<Client> {
  const metadata = validate(ClientSchema, input, at);
  return buildClient(metadata, profile, at, options);
}

async function buildClient(m: ClientMetadata, ecosystemProfile: Profile, at: string, options: ClientValidationOptions): Promise<Client> {
  const responseTypes = (m.response_types ?? ['code']).map((t) => t.split(' ').filter(Boolean).sort().join(' '));
  const profile = rulesForClient(m, responseTypes, ecosystemProfile);
  const method = m.token_endpoint_auth_method as ClientAuthMethod;
  if (!profile.clientAuthMethods.includes(method))
    throw new ConfigError(`${at}.token_endpoint_auth_method`, `"${m.token_endpoint_auth_method}" is not allowed by profile ${profile.name} (allowed: ${profile.clientAuthMethods.join(', ')})`);

  for (const [j, grant] of m.grant_types.entries())
    if (!profile.grantTypes.includes(grant as never))
      throw new ConfigError(`${at}.grant_types[${j}]`, `"${grant}" is not allowed by profile ${profile.name} (allowed: ${profile.grantTypes.join(', ')})`);
  const offered = responseTypesOffered(profile);
  for (const [j, type] of responseTypes.entries())
    if (!offered.includes(type as never))
      throw new ConfigError(
        `${at}.response_types[${j}]`,
        `"${m.response_types![j]}" is not offered by profile ${profile.name}${profile === ecosystemProfile ? '' : ' to a FAPI 1.0 Advanced client (one that registers authorization_signed_response_alg or code id_token)'} (offered: ${offered.join(', ')})`,
      );

  for (const [j, uri] of m.redirect_uris.entries()) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new ConfigError(`${at}.redirect_uris[${j}]`, 'not an absolute URL');
    }
    if (url.protocol !== 'https:') throw new ConfigError(`${at}.redirect_uris[${j}]`, 'must use https');
    if (uri.includes('#')) throw new ConfigError(`${at}.redirect_uris[${j}]`, 'must not have a fragment');
  }
  if (m.grant_types.includes('authorization_code') && m.redirect_uris.length === 0)
    throw new ConfigError(`${at}.redirect_uris`, 'at least one is required for the authorization_code grant');

  const assertionAlgorithms = m.token_endpoint_auth_signing_alg ? [m.token_endpoint_auth_signing_alg] : profile.algorithms.clientAssertion;
  if (!assertionAlgorithms.every((alg) => profile.algorithms.clientAssertion.includes(alg as never)))
    throw new ConfigError(`${at}.token_endpoint_auth_signing_alg`, `must be one of ${profile.algorithms.clientAssertion.join(', ')}`);
  if (m.id_token_signed_response_alg && !profile.algorithms.signing.includes(m.id_token_signed_response_alg as never))
    throw new ConfigError(`${at}.id_token_signed_response_alg`, `must be one of ${profile.algorithms.signing.join(', ')}`);

  if (m.jwks && m.jwks_uri) throw new ConfigError(`${at}.jwks_uri`, 'give either jwks or jwks_uri, not both');
  const certificateThumbprints = new Set<string>();
  if (m.jwks) await checkJwks(m.jwks.keys as JWK[], profile, `${at}.jwks`, certificateThumbprints);
  if (m.jwks_uri && options.fetchJwks) await checkRemoteJwks(m.jwks_uri, profile, `${at}.jwks_uri`, options.fetchJwks);
  const remote = !m.jwks && m.jwks_uri ? (options.remoteKeys ?? remoteClientKeys)(m.jwks_uri) : undefined;
  const jwtKeys: JWTVerifyGetKey | undefined = m.jwks ? createLocalJWKSet(m.jwks as { keys: JWK[] }) : remote;
  const protection = responseProtection(m, profile, at);
  const encryptionKeys = m.jwks ? localEncryptionKeys(m.jwks.keys as JWK[]) : remote ? remoteEncryptionKeys(remote.document) : undefined;

  if (method === 'private_key_jwt' && !jwtKeys) throw new ConfigError(`${at}.jwks`, 'private_key_jwt needs jwks or jwks_uri');
  if (method === 'self_signed_tls_client_auth' && certificateThumbprints.size === 0)
    throw new ConfigError(`${at}.jwks`, 'self_signed_tls_client_auth needs the client certificate in jwks (x5c)');

  const requestObject = requestObjectRules(m, profile, at, jwtKeys !== undefined);
  const pairwiseSector = sectorOf(m, profile, at);

  const sanFields = Object.keys(SAN_FIELDS).filter((f) => m[f as keyof ClientMetadata] !== undefined);
  const identifiers = sanFields.length + (m.tls_client_auth_subject_dn !== undefined ? 1 : 0);
  let subjectDn;
  if (m.tls_client_auth_subject_dn !== undefined) {
    try {
      subjectDn = normalizeDnString(m.tls_client_auth_subject_dn);
    } catch (err) {
      throw new ConfigError(`${at}.tls_client_auth_subject_dn`, `not an RFC 4514 distinguished name: ${(err as Error).message}`);
    }
  }
  if (method === 'tls_client_auth' && identifiers !== 1)
    throw new ConfigError(at, 'tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, _san_uri, _san_ip, _san_email');
  const sanField = sanFields[0];

  return {
    id: m.client_id,
    name: m.client_name ?? m.client_id,
    authMethod: method,
    jwtKeys,
    assertionAlgorithms,
    certificateThumbprints,
    subjectDn,
    subjectAltName: sanField ? { type: SAN_FIELDS[sanField], value: m[sanField as keyof ClientMetadata] as string } : undefined,
    redirectUris: new Set(m.redirect_uris),
    scopes: new Set(m.scope.split(' ').filter(Boolean)),
    grantTypes: new Set(m.grant_types),
    responseTypes: new Set(responseTypes),
    idTokenSigningAlg: m.id_token_signed_response_alg,
    requestObject,
    responseProtection: protection,
    encryptionKeys,
    metadata: m,
    rules: profile,
    ...(pairwiseSector !== undefined ? { pairwiseSector } : {}),
  };
}

/**
 * A profile that certifies on FAPI 1.0 Advanced beside FAPI 2.0 (`fapi1Advanced`) tells its clients
 * apart by what they registered: a JARM response (`authorization_signed_response_alg`, JARM §3: its
 * responses are then signed) or a response type carrying an ID token is a FAPI 1.0 client; any other
 * is held to FAPI 2.0, and is never made to use JARM.
 */
function rulesForClient(m: ClientMetadata, responseTypes: string[], profile: Profile): Profile {
  if (!profile.fapi1Advanced) return profile;
  const fapi1 = m.authorization_signed_response_alg !== undefined || responseTypes.some((type) => type.split(' ').includes('id_token'));
  return fapi1 ? fapi1AdvancedProfile(profile) : profile;
}

/**
 * OIDC Core §8.1: a pairwise client's sector is the host of its sector_identifier_uri, or the one host
 * of its redirect URIs. The sector_identifier_uri is taken as given: config clients are the operator's,
 * and registration accepts one only inside a trusted directory's signed statement.
 */
function sectorOf(m: ClientMetadata, profile: Profile, at: string): string | undefined {
  const offered = profile.subjectTypes ?? ['public'];
  if (m.subject_type !== undefined && !offered.includes(m.subject_type))
    throw new ConfigError(`${at}.subject_type`, `"${m.subject_type}" is not offered by profile ${profile.name} (offered: ${offered.join(', ')})`);
  if (subjectTypeOf(profile, m.subject_type) !== 'pairwise') return undefined;
  if (m.sector_identifier_uri !== undefined) return new URL(m.sector_identifier_uri).host;
  const hosts = new Set(m.redirect_uris.map((uri) => new URL(uri).host));
  if (hosts.size > 1) throw new ConfigError(`${at}.sector_identifier_uri`, `is required for pairwise subjects when the redirect URIs have several hosts (${[...hosts].join(', ')})`);
  return hosts.values().next().value;
}

async function checkJwks(keys: JWK[], profile: Profile, at: string, thumbprints: Set<string>): Promise<void> {
  const kids = new Set<string>();
  for (const [i, jwk] of keys.entries()) {
    const where = `${at}.keys[${i}]`;
    const secret = PRIVATE_JWK_MEMBERS.find((member) => member in jwk);
    if (secret) throw new ConfigError(where, `holds private key material ("${secret}"); register public keys only`);
    if (jwk.kid !== undefined) {
      if (kids.has(jwk.kid)) throw new ConfigError(where, `duplicate kid "${jwk.kid}"`);
      kids.add(jwk.kid);
    }
    if (jwk.use === 'enc') {
      checkPublicJwk(jwk, where);
      continue;
    }
    if (jwk.alg !== undefined && !profile.algorithms.clientAssertion.includes(jwk.alg as never))
      throw new ConfigError(`${where}.alg`, `"${jwk.alg}" is not allowed by profile ${profile.name} (allowed: ${profile.algorithms.clientAssertion.join(', ')})`);
    checkPublicJwk(jwk, where);
    const leaf = jwk.x5c?.[0];
    if (leaf) thumbprints.add(createHash('sha256').update(Buffer.from(leaf, 'base64')).digest('base64url'));
  }
}


/** A jwks_uri must answer now with a JWKS holding at least one usable public signing key. */
async function checkRemoteJwks(uri: string, profile: Profile, at: string, fetchJwks: (uri: string) => Promise<unknown>): Promise<void> {
  let document: unknown;
  try {
    document = await fetchJwks(uri);
  } catch (err) {
    throw new ConfigError(at, `cannot be fetched: ${(err as Error).message}`);
  }
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null || typeof (k as JWK).kty !== 'string'))
    throw new ConfigError(at, 'does not hold a JWK Set');
  await checkJwks(keys as JWK[], profile, at, new Set());
  if (!keys.some((k: JWK) => k.use !== 'enc')) throw new ConfigError(at, 'holds no signing key');
}
