import type { FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import { TokenRejected, verifyAccessToken, type RevocationCheck } from '../tokens/guard.js';
import { constantTimeEqual } from '../tokens/secrets.js';
import { resourceRefusal } from './errors.js';
import { ProofRefused } from './proof.js';

/**
 * A resource request with `Authorization: DPoP` (RFC 9449 §7): the token, verified and unrevoked, must be
 * DPoP-bound, and the request's proof must name it in `ath`, the method and URL as the client called
 * them, and the key of the token's `cnf.jkt`. The token (cached after its first check) and the proof
 * (its jti written to the store) are checked at once, so the call costs one store round trip.
 */
export async function dpopBoundClaims(ctx: GatewayContext, request: FastifyRequest, token: string, revocation: RevocationCheck = 'now'): Promise<AccessTokenClaims> {
  const { algorithms } = ctx.dpop.rules;
  const refuse = (refused: ProofRefused) => resourceRefusal(refused, algorithms, ctx.dpop.nonces);
  const [verified, proof] = await Promise.allSettled([verifyAccessToken(ctx, token, revocation), ctx.dpop.check(request, token)]);
  if (verified.status === 'rejected') {
    const err: unknown = verified.reason;
    if (err instanceof TokenRejected) throw new TokenRejected(err.reason, 'invalid_token', err.description, [], algorithms);
    throw err;
  }
  const claims = verified.value;
  request.clientId = claims.client_id;
  // RFC 9449 §7.2 the other way round: a certificate-bound token is a Bearer token, and is told so.
  if (claims.cnf.jkt === undefined)
    throw new TokenRejected('certificate_token_as_dpop', 'invalid_token', 'the access token is bound to a client certificate: send it with the Bearer scheme');
  if (proof.status === 'rejected') {
    if (proof.reason instanceof ProofRefused) throw refuse(proof.reason);
    throw proof.reason;
  }
  if (proof.value === undefined) throw refuse(new ProofRefused('missing', 'a DPoP proof is required with a DPoP-bound access token'));
  if (!constantTimeEqual(proof.value.jkt, claims.cnf.jkt)) throw refuse(new ProofRefused('key_mismatch', 'the DPoP proof key is not the one the access token is bound to'));
  return claims;
}
