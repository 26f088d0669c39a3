import type { Admission } from './admission/admission.js';
import type { BlockList } from 'node:net';
import type { ClientRegistry } from './clients/registry.js';
import type { ClientRegistrations } from './registration/client-registrations.js';
import type { ConfigFile, Profile } from './config/schema.js';
import type { EndpointUrls } from './config/urls.js';
import type { EcosystemHooks } from './ecosystems/hooks.js';
import type { DpopVerifier } from './dpop/verifier.js';
import type { Grants } from './grants/grant.js';
import type { EncryptionKeys } from './keys/encryption-keys.js';
import type { SigningKeys } from './keys/signing-keys.js';
import type { Metrics } from './observability/metrics.js';
import type { Store } from './store/store.js';
import type { PeerCertificateSource } from './tls/forwarded-certificate.js';
import type { ServerCredentials } from './tls/server-credentials.js';
import type { VerifiedTokenCache } from './tokens/verified-token-cache.js';
import type { UserDirectory } from './users/directory.js';
import type { SubjectIdentifiers } from './subjects/subject-identifiers.js';
import type { PasswordLogin } from './users/password-login.js';
import type { BankLogin } from './login/bank-login.js';
import type { CustomerPages } from './interaction/ui/customer-pages.js';

/** Everything the endpoints share, built once at start from the config. */
export interface GatewayContext {
  config: ConfigFile;
  profile: Profile;
  urls: EndpointUrls;
  credentials: ServerCredentials;
  keys: SigningKeys;
  /** The server's `use: enc` keys (encrypted request objects); only when the profile takes request objects. */
  encryptionKeys?: EncryptionKeys;
  clients: ClientRegistry;
  /** Registered clients' creation, management and removal (RFC 7591/7592, the CLI). */
  registrations: ClientRegistrations;
  users: UserDirectory;
  /** Username and password logins: throttled, with the password check in a bounded hashing slot. */
  login: PasswordLogin;
  /** The bank's login (`interaction.mode` external or oidc); none for the built-in pages. */
  bankLogin?: BankLogin;
  /** Limiters for costly work (password hashing); refusing past them with 503 and Retry-After. */
  admission: Admission;
  store: Store;
  grants: Grants;
  hooks: EcosystemHooks;
  /** DPoP proofs (RFC 9449): the profile's rules, proof keys already imported, server nonces. */
  dpop: DpopVerifier;
  /** Access tokens already verified by signature (emptied when a reload changes the signing keys). */
  verifiedTokens: VerifiedTokenCache;
  /** Undefined when metrics are off. */
  metrics: Metrics | undefined;
  /** The client certificate of a request: from its TLS connection, or a trusted proxy's header. */
  peerCertificate: PeerCertificateSource;
  /** Client addresses the per-address rate limits never count. */
  rateLimitExempt: BlockList;
  /** The proxies whose forwarded headers (client certificate, X-Forwarded-For) are believed; none when absent. */
  trustedProxies: BlockList | undefined;
  /** The `sub` each client sees (public or pairwise). */
  subjects: SubjectIdentifiers;
  /** The customer-facing pages (`ui:`): branding, languages, client logos, the bank's account list. */
  pages: CustomerPages;
}
