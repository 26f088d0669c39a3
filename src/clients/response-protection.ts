import type { JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import type { ClientMetadata, Profile } from '../config/schema.js';
import { chooseEncryptionJwk } from './encryption-keys.js';

export interface ResponseEncryption {
  alg: string;
  enc: string;
}

/**
 * How a client asked its responses to be signed and encrypted (JARM, OpenID Connect Registration
 * §2): checked once against the profile at start.
 */
export interface ResponseProtection {
  /** authorization_signed_response_alg: the JARM signature algorithm. */
  authorizationSigningAlg?: string;
  authorizationEncryption?: ResponseEncryption;
  idTokenEncryption?: ResponseEncryption;
  /** userinfo_signed_response_alg: userinfo answered as a signed JWT. */
  userinfoSigningAlg?: string;
  userinfoEncryption?: ResponseEncryption;
}

type Key = keyof ClientMetadata & string;
/** OpenID Connect Registration §2: an `_enc` defaults to A128CBC-HS256 when only the `_alg` is given. */
const DEFAULT_ENC = 'A128CBC-HS256';

/**
 * Reads and checks the response signing and encryption metadata of a client. A value the profile
 * does not allow is refused naming its key; so is encryption the client has no key for (for a
 * jwks_uri the key is looked up when needed, and its absence answered as an error then).
 */
export function responseProtection(m: ClientMetadata, profile: Profile, at: string): ResponseProtection {
  const jarmAlgs = profile.algorithms.authorizationResponse ?? profile.algorithms.signing;
  const signing = (key: Key, allowed: readonly string[]) => {
    const alg = m[key] as string | undefined;
    if (alg !== undefined && !allowed.includes(alg))
      throw new ConfigError(`${at}.${key}`, `"${alg}" is not allowed by profile ${profile.name} (allowed: ${allowed.join(', ')})`);
    return alg;
  };
  const encryption = (prefix: string): ResponseEncryption | undefined => {
    const algKey = `${prefix}_encrypted_response_alg` as Key;
    const encKey = `${prefix}_encrypted_response_enc` as Key;
    const alg = m[algKey] as string | undefined;
    const enc = m[encKey] as string | undefined;
    if (alg === undefined) {
      if (enc !== undefined) throw new ConfigError(`${at}.${encKey}`, `needs ${algKey}`);
      return undefined;
    }
    const offered = profile.algorithms.encryption;
    if (!offered) throw new ConfigError(`${at}.${algKey}`, `profile ${profile.name} offers no encrypted responses`);
    if (!offered.alg.includes(alg as never))
      throw new ConfigError(`${at}.${algKey}`, `"${alg}" is not allowed by profile ${profile.name} (allowed: ${offered.alg.join(', ')})`);
    const chosenEnc = enc ?? DEFAULT_ENC;
    if (!offered.enc.includes(chosenEnc as never))
      throw new ConfigError(`${at}.${encKey}`, `${enc === undefined ? `the default "${DEFAULT_ENC}"` : `"${enc}"`} is not allowed by profile ${profile.name} (allowed: ${offered.enc.join(', ')})`);
    if (m.jwks && !chooseEncryptionJwk(m.jwks.keys as JWK[], alg))
      throw new ConfigError(`${at}.jwks`, `${algKey} ${alg} needs a public key with "use": "enc" that fits ${alg}`);
    if (!m.jwks && !m.jwks_uri) throw new ConfigError(`${at}.jwks`, `${algKey} needs the client's encryption key in jwks or jwks_uri`);
    return { alg, enc: chosenEnc };
  };
  const protection: ResponseProtection = {};
  const authorizationSigningAlg = signing('authorization_signed_response_alg', jarmAlgs);
  if (authorizationSigningAlg) protection.authorizationSigningAlg = authorizationSigningAlg;
  const userinfoSigningAlg = signing('userinfo_signed_response_alg', profile.algorithms.signing);
  if (userinfoSigningAlg) protection.userinfoSigningAlg = userinfoSigningAlg;
  const authorizationEncryption = encryption('authorization');
  if (authorizationEncryption) protection.authorizationEncryption = authorizationEncryption;
  const idTokenEncryption = encryption('id_token');
  if (idTokenEncryption) protection.idTokenEncryption = idTokenEncryption;
  else if (profile.authorizationRequest?.idTokenEncryption === 'required' && m.grant_types.includes('authorization_code'))
    throw new ConfigError(`${at}.id_token_encrypted_response_alg`, `profile ${profile.name} requires encrypted ID tokens: register id_token_encrypted_response_alg (allowed: ${profile.algorithms.encryption?.alg.join(', ') ?? 'none'})`);
  const userinfoEncryption = encryption('userinfo');
  if (userinfoEncryption) protection.userinfoEncryption = userinfoEncryption;
  return protection;
}
