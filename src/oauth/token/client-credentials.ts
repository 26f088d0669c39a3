import { newGrantId, type Grant } from '../../grants/grant.js';
import { tokenResponse } from '../../tokens/token-response.js';
import { OAuthError } from '../errors.js';
import type { GrantHandler } from './grant-handler.js';

/** client_credentials (RFC 6749 §4.4): for the client's own APIs (e.g. creating consents); no user, no ID token. */
export const clientCredentialsGrant: GrantHandler = {
  handle: async (ctx, params, { client, certificateThumbprint, dpopJkt }) => {
    const requested = (params.scope ?? '').split(' ').filter(Boolean);
    if (requested.includes('openid')) throw new OAuthError('invalid_scope', 'openid is not available with client_credentials');
    const notAllowed = requested.filter((s) => !client.scopes.has(s));
    if (notAllowed.length) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${notAllowed.join(' ')}`);
    const scopes = requested.length ? [...new Set(requested)] : [...client.scopes].filter((s) => s !== 'openid');
    const scope = (ctx.hooks.clientCredentialsScopes?.({ scopes, requested: requested.length > 0, client }) ?? scopes).join(' ');
    const now = Math.floor(Date.now() / 1000);
    const grant: Grant = {
      id: newGrantId(),
      clientId: client.id,
      sub: client.id,
      scope,
      createdAt: now,
      expiresAt: now + ctx.profile.lifetimes.accessToken,
      extensions: {},
    };
    await ctx.grants.save(grant, { indexed: false });
    return tokenResponse(ctx, { grant, client, scope, certificateThumbprint, dpopJkt, withRefreshToken: false });
  },
};
