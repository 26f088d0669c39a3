import type { FastifyReply } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import { encryptedForClient } from '../tokens/encrypt-to-client.js';

/**
 * Sends the UserInfo claims (OIDC Core §5.3.2) as the client registered: JSON by default, a signed
 * JWT for `userinfo_signed_response_alg`, encrypted for `userinfo_encrypted_response_alg` (signed
 * then encrypted when both are given). As a JWT it carries `iss` and `aud` so that it cannot be
 * replayed at another client.
 */
export async function sendUserinfo(ctx: GatewayContext, reply: FastifyReply, client: Client | undefined, claims: Record<string, unknown>): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store');
  const signingAlg = client?.responseProtection?.userinfoSigningAlg;
  const encryption = client?.responseProtection?.userinfoEncryption;
  if (!client || (!signingAlg && !encryption)) return reply.send(claims);
  const payload = { ...claims, iss: ctx.urls.issuer, aud: client.id, iat: Math.floor(Date.now() / 1000) };
  let body: string | Record<string, unknown> = payload;
  if (signingAlg) {
    // Checked at start: the server has an active key for the client's algorithm.
    const key = ctx.keys.signingKey([signingAlg])!;
    body = await key.signJwt(payload, { typ: 'JWT' });
  }
  if (encryption) body = await encryptedForClient(ctx, client, body, encryption, 'userinfo');
  return reply.type('application/jwt').send(body);
}
