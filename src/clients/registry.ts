import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JWK } from 'jose';
import { remoteClientKeys } from './remote-keys.js';
import { checkEncryptionJwk, localEncryptionKeys, remoteEncryptionKeys } from './encryption-keys.js';
import { responseProtection } from './response-protection.js';
import { ConfigError } from '../config/config-error.js';
import type { ClientMetadata, Profile } from '../config/schema.js';
import { keyWeakness } from '../keys/key-strength.js';
import { normalizeDnString } from '../tls/distinguished-name.js';
import { requestObjectRules } from '../oauth/request-object/client-rules.js';
import type { Client, ClientAuthMethod, SanType } from './client.js';

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const SAN_FIELDS: Record<string, SanType> = {
  tls_client_auth_san_dns: 'dns',
  tls_client_auth_san_uri: 'uri',
  tls_client_auth_san_ip: 'ip',
  tls_client_auth_san_email: 'email',
};

/** The registered clients. Static ones come from the config file; dynamic registration will add here. */
export class ClientRegistry {
  readonly #clients = new Map<string, Client>();

  get(clientId: string): Client | undefined {
    return this.#clients.get(clientId);
  }

  all(): IterableIterator<Client> {
    return this.#clients.values();
  }

  /** Every algorithm a client chose to have its responses signed with has an active server key. */
  checkSigningKeys(available: readonly string[]): void {
    const keys = ['id_token_signed_response_alg', 'authorization_signed_response_alg', 'userinfo_signed_response_alg'] as const;
    for (const [i, client] of [...this.#clients.values()].entries())
      for (const key of keys) {
        const alg = client.metadata[key];
        if (alg !== undefined && !available.includes(alg)) throw new ConfigError(`clients[${i}].${key}`, `no active signing key for ${alg} in keys.signing`);
      }
  }

  static async fromConfig(clients: ClientMetadata[], profile: Profile): Promise<ClientRegistry> {
    const registry = new ClientRegistry();
    for (const [i, metadata] of clients.entries()) {
      const at = `clients[${i}]`;
      if (registry.#clients.has(metadata.client_id)) throw new ConfigError(`${at}.client_id`, `duplicate client_id "${metadata.client_id}"`);
      registry.#clients.set(metadata.client_id, await buildClient(metadata, profile, at));
    }
    return registry;
  }
}

async function buildClient(m: ClientMetadata, profile: Profile, at: string): Promise<Client> {
  const method = m.token_endpoint_auth_method as ClientAuthMethod;
  if (!profile.clientAuthMethods.includes(method))
    throw new ConfigError(`${at}.token_endpoint_auth_method`, `"${m.token_endpoint_auth_method}" is not allowed by profile ${profile.name} (allowed: ${profile.clientAuthMethods.join(', ')})`);

  for (const [j, grant] of m.grant_types.entries())
    if (!profile.grantTypes.includes(grant as never))
      throw new ConfigError(`${at}.grant_types[${j}]`, `"${grant}" is not allowed by profile ${profile.name} (allowed: ${profile.grantTypes.join(', ')})`);
  if (m.response_types && m.response_types.some((t) => t !== 'code'))
    throw new ConfigError(`${at}.response_types`, 'only "code" is supported');

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
  const remote = !m.jwks && m.jwks_uri ? remoteClientKeys(m.jwks_uri) : undefined;
  const jwtKeys = m.jwks ? createLocalJWKSet(m.jwks as { keys: JWK[] }) : remote;
  const protection = responseProtection(m, profile, at);
  const encryptionKeys = m.jwks ? localEncryptionKeys(m.jwks.keys as JWK[]) : remote ? remoteEncryptionKeys(remote.document) : undefined;

  if (method === 'private_key_jwt' && !jwtKeys) throw new ConfigError(`${at}.jwks`, 'private_key_jwt needs jwks or jwks_uri');
  if (method === 'self_signed_tls_client_auth' && certificateThumbprints.size === 0)
    throw new ConfigError(`${at}.jwks`, 'self_signed_tls_client_auth needs the client certificate in jwks (x5c)');

  const requestObject = requestObjectRules(m, profile, at, jwtKeys !== undefined);

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
    idTokenSigningAlg: m.id_token_signed_response_alg,
    requestObject,
    responseProtection: protection,
    encryptionKeys,
    metadata: m,
  };
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
      checkEncryptionJwk(jwk, where);
      continue;
    }
    if (jwk.alg !== undefined && !profile.algorithms.clientAssertion.includes(jwk.alg as never))
      throw new ConfigError(`${where}.alg`, `"${jwk.alg}" is not allowed by profile ${profile.name} (allowed: ${profile.algorithms.clientAssertion.join(', ')})`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as never, format: 'jwk' });
    } catch (err) {
      throw new ConfigError(where, `not a usable public key: ${(err as Error).message}`);
    }
    const weakness = keyWeakness(key);
    if (weakness) throw new ConfigError(where, weakness);
    const leaf = jwk.x5c?.[0];
    if (leaf) thumbprints.add(createHash('sha256').update(Buffer.from(leaf, 'base64')).digest('base64url'));
  }
}

