import { findCode, markRedeemed } from '../../grants/authorization-code.js';
import { constantTimeEqual, s256 } from '../../tokens/secrets.js';
import { tokenResponse } from '../../tokens/token-response.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import type { GrantHandler } from './grant-handler.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6): one-time, bound to client, redirect_uri and PKCE. */
export const authorizationCodeGrant: GrantHandler = async (ctx, params, { client, certificateThumbprint }) => {
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = params;
  if (code === undefined) throw invalidRequest('code is required');
  if (redirectUri === undefined) throw invalidRequest('redirect_uri is required');
  if (verifier === undefined) throw invalidGrant('code_verifier is required');

  const record = await findCode(ctx, code);
  if (!record) throw invalidGrant('the code is invalid or has expired');
  // Checked before the code is marked, so a wrong guess by someone else cannot burn it.
  if (record.clientId !== client.id) throw invalidGrant('the code was issued to another client');
  if (record.redirectUri !== redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
  if (!VERIFIER.test(verifier) || !constantTimeEqual(s256(verifier), record.codeChallenge)) throw invalidGrant('code_verifier does not match');

  // Read before the code is marked: once marked, a concurrent second redemption may end the grant,
  // and the one redemption that won must still get its answer (tokens that the reuse has revoked).
  const grant = await ctx.grants.get(record.grantId);
  if (!(await markRedeemed(ctx, code, record.grantId))) {
    // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
    await ctx.grants.end(record.grantId);
    const reuse = invalidGrant('the code has already been used');
    reuse.audit = 'code_reuse';
    throw reuse;
  }
  if (!grant) throw invalidGrant('the authorization has ended');
  return tokenResponse(ctx, {
    grant,
    client,
    scope: record.scope,
    certificateThumbprint,
    withRefreshToken: true,
    idToken: { nonce: record.nonce },
  });
};
