import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { Client } from '../clients/client.js';
import type { Grant } from '../grants/grant.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import type { RegisteredClientRecord } from '../clients/registered-clients.js';
import type { PeerCertificate } from '../tls/peer-certificate.js';
import type { OAuthError } from '../oauth/errors.js';
import type { SequenceStep } from '../store/store.js';
import type { RouteConfig } from '../config/schema.js';
import type { ResourceConventions } from '../gateway/resource-conventions.js';

/** What a pack makes of a verified software statement (registration, RFC 7591 §2.3). */
export interface SoftwareStatementMapping {
  /** The scopes this software may hold (e.g. from its roles); requested scopes must be within them. */
  allowedScopes?: string[];
  /** Metadata the statement decides (e.g. jwks_uri from software_jwks_uri); wins over the request's. */
  metadata?: Record<string, unknown>;
}

/** What the customer chose on the consent step beyond approving (e.g. the accounts to share). */
export interface ConsentDecision {
  accountIds?: string[];
}

/** What the consent step shows beyond the scopes, and the choices it offers. */
export interface ConsentDetails {
  /** Lines to show, each labelled by language tag (e.g. `{ 'pt-BR': ..., en: ... }`). */
  items: { label: Record<string, string> }[];
  /** Accounts the customer may choose among (ids as the bank knows them); `detail` is a second line (a masked number). */
  accounts?: { id: string; label: string; detail?: string }[];
  /** Seconds since the epoch: when the access ends if approved (a CDR sharing duration, a Brazil consent's expiry). */
  expiresAt?: number;
  /** true: a once-off access (no refresh token), whatever the client registered. */
  onceOff?: boolean;
}

/** What a pack adds to the deployment's `registration:` settings (registration, RFC 7591/7592). */
export interface RegistrationContribution {
  /** Directories whose software statements are trusted, beside `registration.directories` (e.g. from the pack's own settings). */
  directories?: { issuer: string; jwksFile?: string; jwksUri?: string; algorithms?: string[]; /** The key path its problems are reported under. */ at?: string }[];
  /** false: an update (RFC 7592 §2.2) keeps the registration access token instead of issuing a new one. Default true. */
  rotateAccessToken?: boolean;
  /** true: a software statement registers one client only; registering again needs a new statement. */
  singleUseStatements?: boolean;
}

/**
 * How an ecosystem pack (CDR, Open Finance Brasil) extends the core without branches in it. Every
 * hook is optional; the FAPI 2.0 baseline uses none.
 */
export interface EcosystemHooks {
  /** At PAR: check extra parameters and keep what is needed in `request.extensions`; throw an OAuthError to refuse. */
  validateAuthorizationRequest?(input: { params: Record<string, string>; request: AuthorizationRequest; client: Client }): void | Promise<void>;
  /**
   * At PAR, once the request is validated: what validateAuthorizationRequest decided (from the
   * store or a replica's copy, `Store.copy`), as guards the pushed request is written behind, in the
   * same sequence. A guard that fails stops the write, and its refusal is the answer.
   */
  pushGuards?(input: { request: AuthorizationRequest }): PushGuard[] | undefined;
  /**
   * When a grant is created from an approved authorization: attach a consent or arrangement, set its
   * expiry. The grant is discarded unseen if the request turns out to have been completed elsewhere
   * meanwhile, so keep what is attached inside the grant. Throw an OAuthError to refuse the approval.
   * What the pack then writes may be returned as a GrantCommit rather than awaited here, so that it
   * travels with the completion's own writes.
   */
  onGrantCreated?(input: { grant: Grant; request: AuthorizationRequest; client: Client; decision?: ConsentDecision }): void | GrantCommit | Promise<void | GrantCommit>;
  /**
   * A step of the authorization (the authorization endpoint) has read the pushed request and is about
   * to write: start reading what this step's other hooks will need (a consent, an arrangement), so
   * that the read travels in the same store round trip as the step's write. Reads only, nothing the
   * customer could see; not awaited (keep the promise, and its failure, for the hooks that need it:
   * they get the same `request` object within the step).
   */
  prefetch?(input: { request: AuthorizationRequest }): void;
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
    /** The metadata as the request sent it, before the statement's claims won (e.g. to check its redirect URIs are within the statement's). */
    requested: Record<string, unknown>;
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
   * After the customer is authenticated, before consent: throw `new OAuthError('access_denied', ...)`
   * to end the authorization (e.g. the customer is not the one the consent was made for).
   */
  onLogin?(input: { request: AuthorizationRequest; client: Client; sub: string; claims: Record<string, unknown> }): void | Promise<void>;
  /** What the consent step shows beyond scopes and lets the customer choose (accounts). */
  consentDetails?(input: { request: AuthorizationRequest; client: Client; sub: string }): ConsentDetails | undefined | Promise<ConsentDetails | undefined>;
  /** An authorization ended without approval (denied, cancelled, refused at login), before the client hears of it. */
  onAuthorizationDenied?(input: { request: AuthorizationRequest; client: Client; error: string }): void | Promise<void>;
  /**
   * At PAR: true for a scope the pack recognises by its form (e.g. `consent:<id>`), which the client
   * need not have registered; the pack checks it in validateAuthorizationRequest.
   */
  isDynamicScope?(scope: string): boolean;
  /** Registration: settings the pack adds (trusted directories, token rotation, single-use statements); read once at start. */
  registrationSettings?(): RegistrationContribution;
  /**
   * Registration management (GET/PUT/DELETE /register/{clientId}): when present, it decides who may
   * manage a registration instead of RFC 7592's registration access token (none is then issued).
   * Resolve to allow; throw an OAuthError (401 invalid_token, ...) to refuse.
   */
  authorizeRegistrationManagement?(input: { clientId: string; request: FastifyRequest }): Promise<void>;
  /**
   * Whether a client may use the gateway now (e.g. its status at an ecosystem's register): an
   * OAuthError refuses it at PAR, the authorization endpoint, the token endpoint and protected
   * resources (revocation and introspection stay open); undefined lets it through. On hot paths:
   * answer from memory.
   */
  clientRefusal?(clientId: string): OAuthError | undefined;
  /** Every answered request on the TLS listeners (e.g. an ecosystem's own service metrics). On the hot path: cheap and synchronous. */
  observeRequest?(input: { listener: string; route: string; request: FastifyRequest; status: number; seconds: number }): void;
  /**
   * The resource front door: the ecosystem's rules for a configured route (headers, versions, consent
   * checks, error envelope; see src/gateway/resource-conventions.ts), or undefined for none. Asked once
   * per route at start; validate the route's `ecosystem` data here and throw a ConfigError naming
   * `ecosystem.<key>` (the core prefixes the route).
   */
  resourceConventions?(route: RouteConfig): ResourceConventions | undefined;
  /**
   * At the token endpoint, client_credentials: the scopes to grant out of `scopes` (what was asked for,
   * or, when `requested` is false, every scope of the client but openid). Throw an OAuthError
   * (invalid_scope) to refuse scopes the ecosystem keeps for a customer's authorization.
   */
  clientCredentialsScopes?(input: { scopes: string[]; requested: boolean; client: Client }): string[];
  /**
   * A grant was withdrawn at the bank (grant management: the customer, or the bank for them), after
   * the core ended it: the pack ends what it attached (a consent, an arrangement) and tells whom the
   * ecosystem says must hear of it (e.g. the recipient). A grant the pack knows nothing of is ignored.
   */
  onGrantWithdrawn?(input: { grant: Grant; initiator: 'customer' | 'bank' }): void | Promise<void>;
}

/**
 * The writes of an approval (onGrantCreated), sent by the core in the same store round trip as the
 * consumption of the pushed request, the code and the grant, once the grant is final. Rejecting
 * with an OAuthError refuses the approval after all (the one-time transition it tried was taken, a
 * consent ended meanwhile): the core discards the code and grant and sends the client the error. The
 * request may turn out to have been completed elsewhere meanwhile, as for the grant.
 */
export type GrantCommit = () => Promise<void>;

/** Steps that hold while what a pack decided still holds, and what the client hears when they do not. */
export interface PushGuard {
  steps: SequenceStep[];
  /** Made only when a guard fails: an error captures its stack, too dear to build on every push. */
  refusal: () => OAuthError;
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
