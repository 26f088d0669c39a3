import type { FastifyInstance } from 'fastify';
import type { Client } from '../clients/client.js';
import type { Grant } from '../grants/grant.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';

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
  /** Extra routes, on the public and the mTLS listener. */
  routes?(listeners: { public: FastifyInstance; mtls: FastifyInstance }): void | Promise<void>;
}

export type EcosystemFactory = () => EcosystemHooks;
