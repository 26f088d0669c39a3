import type { JWTVerifyGetKey } from 'jose';
import type { ClientMetadata, Profile } from '../config/schema.js';
import type { ClientRequestObjectRules } from '../oauth/request-object/policy.js';
import type { NormalizedDn } from '../tls/distinguished-name.js';
import type { EncryptionKeySource } from './encryption-keys.js';
import type { ResponseProtection } from './response-protection.js';

export type ClientAuthMethod = 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';

export type SanType = 'dns' | 'uri' | 'ip' | 'email';

/** A registered client, with everything authentication needs prepared once at start. */
export interface Client {
  readonly id: string;
  readonly name: string;
  readonly authMethod: ClientAuthMethod;
  /** Keys that verify this client's JWTs (client assertions, later request objects). */
  readonly jwtKeys: JWTVerifyGetKey | undefined;
  /** JWS algorithms this client may sign with. */
  readonly assertionAlgorithms: string[];
  /** self_signed_tls_client_auth: thumbprints of the registered certificates (JWKS `x5c`). */
  readonly certificateThumbprints: ReadonlySet<string>;
  /** tls_client_auth: the registered subject DN, or one subject alternative name. */
  readonly subjectDn: NormalizedDn | undefined;
  readonly subjectAltName: { type: SanType; value: string } | undefined;
  readonly redirectUris: ReadonlySet<string>;
  readonly scopes: ReadonlySet<string>;
  readonly grantTypes: ReadonlySet<string>;
  /** response_types the client registered (OIDC Registration §2; `code` when it named none), in normalized order. */
  readonly responseTypes: ReadonlySet<string>;
  readonly idTokenSigningAlg: string | undefined;
  /** How this client's signed request objects are checked, and whether it must send one. */
  readonly requestObject: ClientRequestObjectRules;
  /** How the client's authorization responses, ID tokens and userinfo are signed and encrypted. */
  readonly responseProtection?: ResponseProtection;
  /** The client's public encryption keys (`use: enc` in jwks or jwks_uri). */
  readonly encryptionKeys?: EncryptionKeySource;
  readonly metadata: Readonly<ClientMetadata>;
  /**
   * The profile's rules as they apply to this client: the profile itself, or for a FAPI 1.0
   * Advanced client of a profile that has `fapi1Advanced`, the profile with those keys in place.
   */
  readonly rules: Profile;
  /** Pairwise subjects (OIDC Core §8.1): the host the client's `sub` values are derived for; undefined for public ones. */
  readonly pairwiseSector?: string;
  /**
   * Registered clients: when this client_id was registered (seconds). A grant older than that was
   * made for a deleted client that had the same id, and is not this client's.
   */
  readonly registeredAt?: number;
}
