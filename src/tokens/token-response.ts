import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import { issueAccessToken } from './access-token.js';
import { issueIdToken } from './id-token.js';
import { issueRefreshToken, refreshTokenLifetime } from './refresh-token.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
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
    certificateThumbprint: string;
    /** Issue a refresh token (when the client may use them and the lifetime allows). */
    withRefreshToken: boolean;
    /** Issue an ID token (authorization code grant with `openid` in scope). */
    idToken?: { nonce?: string };
  },
): Promise<TokenResponse> {
  const { grant, client, scope } = input;
  const accessToken = await issueAccessToken(ctx, { grant, client, scope, certificateThumbprint: input.certificateThumbprint });
  const response: TokenResponse = {
    ...ctx.hooks.tokenResponseFields?.(grant),
    access_token: accessToken.token,
    token_type: 'Bearer',
    expires_in: accessToken.expiresIn,
    scope,
  };
  if (input.withRefreshToken && client.grantTypes.has('refresh_token')) {
    const lifetime = refreshTokenLifetime(ctx, grant);
    if (lifetime !== 'none') response.refresh_token = await issueRefreshToken(ctx, grant, input.refreshScope ?? scope, lifetime);
  }
  if (input.idToken && scope.split(' ').includes('openid')) response.id_token = await issueIdToken(ctx, { grant, client, nonce: input.idToken.nonce });
  return response;
}
