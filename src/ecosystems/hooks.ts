import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { Client } from '../clients/client.js';
import type { Grant } from '../grants/grant.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import type { RegisteredClientRecord } from '../clients/registered-clients.js';
import type { PeerCertificate } from '../tls/peer-certificate.js';

/** What a pack makes of a verified software statement (registration, RFC 7591 §2.3). */
export interface SoftwareStatementMapping {
  /** The scopes this software may hold (e.g. from its roles); requested scopes must be within them. */
  allowedScopes?: string[];
  /** Metadata the statement decides (e.g. jwks_uri from software_jwks_uri); wins over the request's. */
  metadata?: Record<string, unknown>;
}

/**
 * How an ecosystem pack (CDR, Open Finance Brasil) extends the core without branches in it. Every
 * hook is optional; the FAPI 2.0 baseline uses none.
 */
export interface EcosystemHooks {
  /** At PAR: check extra parameters and keep what is needed in `request.extensions`; throw an OAuthError to refuse. */
  validateAuthorizationRequest?(input: { params: Record<string, string>; request: AuthorizationRequest; client: Client }): void | Promise<void>;
  /**
   * When a grant is created from an approved authorization: attach a consent or arrangement, set its
   * expiry. The grant is discarded unseen if the request turns out to have been completed elsewhere
   * meanwhile, so keep what is attached inside the grant.
   */
  onGrantCreated?(input: { grant: Grant; request: AuthorizationRequest; client: Client }): void | Promise<void>;
  /** Refresh-token lifetime for a grant in seconds (0: as long as the grant), or 'none' for no refresh token. */
  refreshTokenLifetime?(grant: Grant, profileDefault: number): number | 'none';
  /** Extra claims in access tokens. */
  accessTokenClaims?(grant: Grant): Record<string, unknown>;
  /** Extra members of token endpoint responses. */
  tokenResponseFields?(grant: Grant): Record<string, unknown>;
  /** Extra members of introspection responses for active tokens. */
  introspectionFields?(grant: Grant | undefined, tokenType: 'access_token' | 'refresh_token'): Record<string, unknown>;
  /** Extra discovery metadata. */
  discoveryFields?(): Record<string, unknown>;
  /**
   * Registration: checks a software statement whose signature, issuer and age are verified, against
   * the request and the client certificate (e.g. organisation id ↔ certificate subject), and maps it.
   * Throw a RegistrationError (src/registration/errors.ts) to refuse with its RFC 7591 code.
   */
  softwareStatement?(input: {
    claims: Record<string, unknown>;
    directory: string;
    metadata: Record<string, unknown>;
    certificate: PeerCertificate;
  }): SoftwareStatementMapping | void | Promise<SoftwareStatementMapping | void>;
  /** Registration: true when a software_id may hold one registration only; a second is refused until the first is deleted. */
  oneRegistrationPerSoftwareId?(softwareId: string): boolean;
  /** Registration: extra members of the create, read and update responses. */
  registrationResponseFields?(record: RegisteredClientRecord): Record<string, unknown>;
  /** Extra routes, on the public and the mTLS listener. */
  routes?(listeners: { public: FastifyInstance; mtls: FastifyInstance }): void | Promise<void>;
  /**
   * Once the shared context exists (store, keys, grants, clients): the pack keeps what it needs and
   * starts its background work (pollers, delivery queues). Throw a ConfigError to refuse to start.
   */
  start?(ctx: GatewayContext): void | Promise<void>;
  /** At shutdown, before the store closes: stop background work. Must end promptly (it is inside the grace). */
  stop?(): void | Promise<void>;
  /**
   * Commands the pack adds to the CLI (`fapi-gateway <name> ... --config FILE`), by name; called after
   * `start`, with no listeners running. `run` prints through `print` and resolves to the exit code.
   */
  cliCommands?(): Record<string, EcosystemCommand>;
  /**
   * At the token endpoint, client_credentials: the scopes to grant out of `scopes` (what was asked for,
   * or, when `requested` is false, every scope of the client but openid). Throw an OAuthError
   * (invalid_scope) to refuse scopes the ecosystem keeps for a customer's authorization.
   */
  clientCredentialsScopes?(input: { scopes: string[]; requested: boolean; client: Client }): string[];
}

/** A CLI command of a pack (see EcosystemHooks.cliCommands). */
export interface EcosystemCommand {
  /** One usage line (or several), shown by --help. */
  usage: string;
  run(args: string[], print: (line: string) => void): Promise<number>;
}

/**
 * Builds a pack's hooks from the deployment's `ecosystem:` settings (undefined when the config has
 * none). Validate them here and throw a ConfigError naming the key path (`ecosystem.<key>`).
 */
export type EcosystemFactory = (settings: Record<string, unknown> | undefined) => EcosystemHooks;
