import { copiedCode, findCode, markRedeemed, redemptionMark, type CodeRecord } from '../../grants/authorization-code.js';
import { constantTimeEqual, s256, storageKey } from '../../tokens/secrets.js';
import type { AuthenticatedClient } from '../../clients/authenticate.js';
import type { TokenBinding } from '../../dpop/authorization-server.js';
import type { GatewayContext } from '../../context.js';
import { forgetRefreshToken, newRefreshToken, refreshTokenLifetime } from '../../tokens/refresh-token.js';
import { tokenResponse, type TokenResponse } from '../../tokens/token-response.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import type { GrantHandler, ReplayInSequence } from './grant-handler.js';
import type { SequenceStep } from '../../store/store.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6): one-time, bound to client, redirect_uri and PKCE. */
export const authorizationCodeGrant: GrantHandler<CodeRecord | undefined> = {
  read: (ctx, params) => (params.code === undefined ? Promise.resolve(undefined) : findCode(ctx, params.code)),
  readCopy: (ctx, params) => (params.code === undefined ? undefined : copiedCode(ctx, params.code)),
  handle: (ctx, params, caller, record, replay) => redeemCode(ctx, params, caller, record, replay),
};

async function redeemCode(
  ctx: GatewayContext,
  params: Record<string, string>,
  { client, certificateThumbprint, dpopJkt }: AuthenticatedClient & TokenBinding,
  record: CodeRecord | undefined,
  replay?: ReplayInSequence,
): Promise<TokenResponse> {
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = params;
  if (code === undefined) throw invalidRequest('code is required');
  if (redirectUri === undefined) throw invalidRequest('redirect_uri is required');
  if (verifier === undefined) throw invalidGrant('code_verifier is required');
  if (!record) throw invalidGrant('the code is invalid or has expired');
  // Checked before the code is marked, so a wrong guess by someone else cannot burn it.
  if (record.clientId !== client.id) throw invalidGrant('the code was issued to another client');
  if (record.redirectUri !== redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
  if (!VERIFIER.test(verifier) || !constantTimeEqual(s256(verifier), record.codeChallenge)) throw invalidGrant('code_verifier does not match');
  // RFC 9449 §10: a code bound at PAR is redeemed only with a proof of that key.
  if (record.dpopJkt !== undefined && (dpopJkt === undefined || !constantTimeEqual(dpopJkt, record.dpopJkt)))
    throw invalidGrant(dpopJkt === undefined ? 'the code is bound to a DPoP key: send a DPoP proof' : 'the DPoP proof key does not match the key the code is bound to');

  // The grant comes with the code (it cannot change in the code's life): a concurrent second
  // redemption may end it once the code is marked, and the one that won still gets its answer
  // (tokens the reuse has revoked). The response is built while the mark is in flight (one store
  // round trip for the mark and the refresh token); nothing of it leaves unless the mark succeeds.
  const { grant } = record;
  if (replay) return redeemCopiedCode(ctx, code, record, replay, { client, certificateThumbprint, dpopJkt });
  const [redeemed, built] = await Promise.allSettled([
    markRedeemed(ctx, code, record),
    tokenResponse(ctx, {
      grant,
      client,
      scope: record.scope,
      certificateThumbprint,
      dpopJkt,
      withRefreshToken: true,
      idToken: { nonce: record.nonce },
    }),
  ]);
  if (redeemed.status === 'fulfilled' && redeemed.value) {
    if (built.status === 'rejected') throw built.reason;
    return built.value;
  }
  // Lost the race, or could not tell: the refresh token written alongside is never handed out.
  const refreshToken = built.status === 'fulfilled' ? built.value.refresh_token : undefined;
  const forgotten = refreshToken === undefined ? undefined : forgetRefreshToken(ctx, refreshToken);
  if (redeemed.status === 'rejected') {
    await forgotten?.catch(() => undefined); // the store is failing already; the token is unknown to anyone
    throw redeemed.reason;
  }
  // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
  await Promise.all([ctx.grants.end(record.grantId), forgotten]);
  const reuse = invalidGrant('the code has already been used');
  reuse.audit = 'code_reuse';
  throw reuse;
}

/**
 * redeemCode's end for a code read from this replica's copy, in one store round trip: one sequence
 * records the assertion's jti (a replay stops it before the code is touched), finds the code still
 * live, marks it redeemed and writes the refresh token, which is therefore never written for a
 * redemption that loses. The tokens are signed while it is in flight; nothing leaves unless it ran to the end.
 */
async function redeemCopiedCode(
  ctx: GatewayContext,
  code: string,
  record: CodeRecord,
  replay: ReplayInSequence,
  { client, certificateThumbprint, dpopJkt }: Pick<AuthenticatedClient & TokenBinding, 'client' | 'certificateThumbprint' | 'dpopJkt'>,
): Promise<TokenResponse> {
  const { grant } = record;
  const lifetime = refreshTokenLifetime(ctx, grant);
  const refresh = lifetime === 'none' ? undefined : newRefreshToken(ctx, grant, record.scope, lifetime);
  const replayStep = replay.step;
  const steps: SequenceStep[] = [...(replayStep ? [replayStep] : []), { present: 'code', id: storageKey(code) }, redemptionMark(ctx, code, record), ...(refresh ? [refresh.write] : [])];
  const [ran, built] = await Promise.allSettled([
    ctx.store.sequence(steps),
    tokenResponse(ctx, { grant, client, scope: record.scope, certificateThumbprint, dpopJkt, withRefreshToken: false, refreshToken: refresh?.token, idToken: { nonce: record.nonce } }),
  ]);
  if (ran.status === 'rejected') throw ran.reason;
  if (replayStep) replay.checked(ran.value[0] === true);
  const [found, marked] = replayStep ? ran.value.slice(1) : ran.value;
  if (found !== true) throw invalidGrant('the code is invalid or has expired');
  if (marked !== true) {
    // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
    await ctx.grants.end(record.grantId);
    const reuse = invalidGrant('the code has already been used');
    reuse.audit = 'code_reuse';
    throw reuse;
  }
  if (built.status === 'rejected') throw built.reason;
  return built.value;
}
