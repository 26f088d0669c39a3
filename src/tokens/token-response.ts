import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import { issueAccessToken } from './access-token.js';
import { issueIdToken } from './id-token.js';
import { issueRefreshToken, refreshTokenLifetime } from './refresh-token.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  [extension: string]: unknown;
}

/** Builds a token endpoint response (RFC 6749 §5.1) for a grant; every grant handler ends here. */
export async function tokenResponse(
  ctx: GatewayContext,
  input: {
    grant: Grant;
    client: Client;
    scope: string;
    /** The scope of a new refresh token, when it differs from the access token's. */
    refreshScope?: string;
    /** What the access token is bound to: the client certificate, or a DPoP key (exactly one). */
    certificateThumbprint?: string;
    dpopJkt?: string;
    /** Issue a refresh token (when the client may use them and the lifetime allows). */
    withRefreshToken: boolean;
    /** The refresh token, when the caller has written it itself (then withRefreshToken is false). */
    refreshToken?: string;
    /** Issue an ID token (authorization code grant with `openid` in scope). */
    idToken?: { nonce?: string };
  },
): Promise<TokenResponse> {
  const { grant, client, scope } = input;
  // The refresh token's write is sent before the signing starts, so that it leaves in the same store
  // round trip as whatever the caller sent just before (the code grant's one-time mark).
  const lifetime = input.withRefreshToken ? refreshTokenLifetime(ctx, grant) : 'none';
  const [refreshToken, accessToken, idToken] = await Promise.all([
    lifetime === 'none' ? undefined : issueRefreshToken(ctx, grant, input.refreshScope ?? scope, lifetime),
    issueAccessToken(ctx, { grant, client, scope, certificateThumbprint: input.certificateThumbprint, dpopJkt: input.dpopJkt }),
    input.idToken && scope.split(' ').includes('openid') ? issueIdToken(ctx, { grant, client, nonce: input.idToken.nonce }) : undefined,
  ]);
  const response: TokenResponse = {
    ...ctx.hooks.tokenResponseFields?.(grant),
    access_token: accessToken.token,
    token_type: input.dpopJkt !== undefined ? 'DPoP' : 'Bearer',
    expires_in: accessToken.expiresIn,
    scope,
  };
  if (refreshToken !== undefined) response.refresh_token = refreshToken;
  else if (input.refreshToken !== undefined) response.refresh_token = input.refreshToken;
  // OpenID Grant Management §5.4: a customer's grant is named to its client (a client_credentials grant, which has no authentication time, is not one).
  if (ctx.profile.grantManagement?.enabled && grant.authTime !== undefined) response.grant_id = grant.id;
  if (idToken !== undefined) response.id_token = idToken;
  return response;
}
