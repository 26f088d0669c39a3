import { randomUUID } from 'node:crypto';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** The claims of our JWT access tokens (RFC 9068), sender-constrained by `cnf`: a certificate (RFC 8705) or a DPoP key (RFC 9449). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  exp: number;
  iat: number;
  jti: string;
  scope: string;
  cnf: { 'x5t#S256': string; jkt?: undefined } | { jkt: string; 'x5t#S256'?: undefined };
  /** The grant the token was issued from: ending the grant ends the token. */
  grant_id: string;
  auth_time?: number;
  acr?: string;
  [extension: string]: unknown;
}

export interface IssuedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  expiresIn: number;
}

export async function issueAccessToken(
  ctx: GatewayContext,
  input: { grant: Grant; client: Client; scope: string; certificateThumbprint?: string; dpopJkt?: string },
): Promise<IssuedAccessToken> {
  const { grant, client } = input;
  const cnf = input.dpopJkt !== undefined ? { jkt: input.dpopJkt } : input.certificateThumbprint !== undefined ? { 'x5t#S256': input.certificateThumbprint } : undefined;
  // Never a bearer token: the endpoints refuse a request with nothing to bind to before this.
  if (cnf === undefined) throw new Error('an access token needs a certificate or a DPoP key to be bound to');
  const key = ctx.keys.signingKey(ctx.profile.algorithms.signing)!;
  const now = Math.floor(Date.now() / 1000);
  const expiresIn = ctx.profile.lifetimes.accessToken;
  const claims: AccessTokenClaims = {
    ...ctx.hooks.accessTokenClaims?.(grant),
    iss: ctx.urls.issuer,
    // The sub the client is told everywhere (pairwise where the profile says so); a client's own
    // grant (client_credentials) has the client as its subject.
    sub: grant.sub === grant.clientId ? grant.sub : ctx.subjects.forClient(client, grant.sub),
    aud: ctx.urls.mtlsBase,
    client_id: client.id,
    exp: now + expiresIn,
    iat: now,
    jti: randomUUID(),
    scope: input.scope,
    cnf,
    grant_id: grant.id,
  };
  if (grant.authTime !== undefined) claims.auth_time = grant.authTime;
  if (grant.acr !== undefined) claims.acr = grant.acr;
  const token = await key.signJwt(claims, { typ: ACCESS_TOKEN_TYPE });
  return { token, claims, expiresIn };
}
