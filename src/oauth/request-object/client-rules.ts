import { ConfigError } from '../../config/config-error.js';
import type { ClientMetadata, Profile } from '../../config/schema.js';
import {
  REQUEST_OBJECT_ENCRYPTION_ALGS,
  REQUEST_OBJECT_ENCRYPTION_ENCS,
  requestObjectAlgorithms,
  requestObjectMode,
  type ClientRequestObjectRules,
} from './policy.js';

/**
 * A client's request object metadata (RFC 9101 §10.5, OIDC Registration §2) checked against the
 * profile at start: a value the profile does not allow fails naming its key path.
 */
export function requestObjectRules(m: ClientMetadata, profile: Profile, at: string, hasKeys: boolean): ClientRequestObjectRules {
  const mode = requestObjectMode(profile);
  const allowed = requestObjectAlgorithms(profile);
  const usesRequestObjects = m.require_signed_request_object || m.request_object_signing_alg || m.request_object_encryption_alg || m.request_object_encryption_enc;
  if (usesRequestObjects && mode === 'none')
    throw new ConfigError(`${at}.require_signed_request_object`, `profile ${profile.name} does not accept request objects (requestObject: none)`);
  if (m.request_object_signing_alg !== undefined && !allowed.includes(m.request_object_signing_alg))
    throw new ConfigError(`${at}.request_object_signing_alg`, `"${m.request_object_signing_alg}" is not allowed by profile ${profile.name} (allowed: ${allowed.join(', ')})`);
  const required = mode === 'required' || m.require_signed_request_object === true;
  if (required && !hasKeys) throw new ConfigError(`${at}.jwks`, 'signed request objects need the client\'s keys: jwks or jwks_uri');

  let encryption: ClientRequestObjectRules['encryption'];
  if (m.request_object_encryption_enc !== undefined && m.request_object_encryption_alg === undefined)
    throw new ConfigError(`${at}.request_object_encryption_enc`, 'needs request_object_encryption_alg');
  if (m.request_object_encryption_alg !== undefined) {
    if (!(REQUEST_OBJECT_ENCRYPTION_ALGS as readonly string[]).includes(m.request_object_encryption_alg))
      throw new ConfigError(`${at}.request_object_encryption_alg`, `must be one of ${REQUEST_OBJECT_ENCRYPTION_ALGS.join(', ')}`);
    const enc = m.request_object_encryption_enc ?? 'A128CBC-HS256';
    if (!(REQUEST_OBJECT_ENCRYPTION_ENCS as readonly string[]).includes(enc))
      throw new ConfigError(`${at}.request_object_encryption_enc`, `must be one of ${REQUEST_OBJECT_ENCRYPTION_ENCS.join(', ')}${m.request_object_encryption_enc === undefined ? ' (the default, A128CBC-HS256, is not supported: give it)' : ''}`);
    encryption = { alg: m.request_object_encryption_alg, enc };
  }
  return {
    required,
    algorithms: m.request_object_signing_alg ? [m.request_object_signing_alg] : allowed,
    ...(encryption ? { encryption } : {}),
  };
}
