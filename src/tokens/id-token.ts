import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { Grant } from '../grants/grant.js';
import { encryptedForClient } from './encrypt-to-client.js';
import { hashClaim } from './hash-claim.js';

/**
 * An ID token (OIDC Core §2) carrying only what was asked for: the standard claims, nonce, and requested
 * claims. `hashed` names claims that carry the hash of a value (`c_hash` of a code, `s_hash` of a state),
 * computed with the hash of the algorithm the token is signed with.
 */
export async function issueIdToken(ctx: GatewayContext, input: { grant: Grant; client: Client; nonce?: string; hashed?: Record<string, string> }): Promise<string> {
  const { grant, client } = input;
  const algorithms = client.idTokenSigningAlg ? [client.idTokenSigningAlg] : ctx.profile.algorithms.signing;
  const key = ctx.keys.signingKey(algorithms)!;
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: ctx.urls.issuer,
    sub: ctx.subjects.forClient(client, grant.sub),
    aud: client.id,
    exp: now + ctx.profile.lifetimes.idToken,
    iat: now,
  };
  if (grant.authTime !== undefined) claims.auth_time = grant.authTime;
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  if (grant.acr !== undefined) claims.acr = grant.acr;
  if (grant.amr?.length) claims.amr = grant.amr;
  const requested = grant.claims?.id_token;
  if (requested && ctx.profile.idTokenUserClaims !== false) {
    const userClaims = ctx.users.bySub(grant.sub)?.claims ?? grant.userClaims;
    for (const name of Object.keys(requested)) {
      if (name in claims || !userClaims || !(name in userClaims)) continue;
      claims[name] = userClaims[name];
    }
  }
  for (const [name, value] of Object.entries(input.hashed ?? {})) claims[name] = hashClaim(value, key.alg);
  const signed = await key.signJwt(claims, { typ: 'JWT' });
  const encryption = client.responseProtection?.idTokenEncryption;
  return encryption ? encryptedForClient(ctx, client, signed, encryption, 'id_token') : signed;
}
