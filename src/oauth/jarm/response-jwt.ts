import { responseModesAdvertised } from '../response-types/response-type.js';
import type { Client } from '../../clients/client.js';
import { ConfigError } from '../../config/config-error.js';
import type { Profile } from '../../config/schema.js';
import type { GatewayContext } from '../../context.js';
import type { SigningKeys } from '../../keys/signing-keys.js';
import { encryptedForClient } from '../../tokens/encrypt-to-client.js';

/**
 * How long a JARM response is valid. JARM asks for a short life; the conformance suite warns past
 * 10 minutes. The code inside lives much shorter (lifetimes.code), so this only bounds the envelope.
 */
export const RESPONSE_JWT_LIFETIME_SECONDS = 300;

/**
 * The authorization response as a JWT (JARM §2.1): the response parameters (`code` and `state`, or
 * `error`, `error_description` and `state`) as claims next to `iss`, `aud` (the client) and `exp`,
 * signed with the server key for the client's `authorization_signed_response_alg` (the profile's
 * first available otherwise), then encrypted to the client when it registered
 * `authorization_encrypted_response_alg`.
 */
export async function authorizationResponseJwt(ctx: GatewayContext, client: Client, params: Record<string, string>): Promise<string> {
  const protection = client.responseProtection;
  const algorithms = protection?.authorizationSigningAlg
    ? [protection.authorizationSigningAlg]
    : (ctx.profile.algorithms.authorizationResponse ?? ctx.profile.algorithms.signing);
  const key = ctx.keys.signingKey(algorithms);
  // Checked at start: every allowed algorithm a client chose has a key, and the profile's list has one.
  if (!key) throw new Error(`no active signing key for ${algorithms.join(', ')}`);
  const now = Math.floor(Date.now() / 1000);
  // `iss` comes with the parameters (RFC 9207) and is the issuer; the JWT carries it instead of the URL.
  const jws = await key.signJwt({ ...params, iss: ctx.urls.issuer, aud: client.id, iat: now, exp: now + RESPONSE_JWT_LIFETIME_SECONDS });
  if (!protection?.authorizationEncryption) return jws;
  return encryptedForClient(ctx, client, jws, protection.authorizationEncryption, 'authorization_response');
}

/** At start: a profile offering JARM has an active key for one of its JARM algorithms. */
export function checkJarmSigningKey(profile: Profile, keys: SigningKeys): void {
  if (!responseModesAdvertised(profile).some((mode) => mode.includes('jwt'))) return;
  const algorithms = profile.algorithms.authorizationResponse ?? profile.algorithms.signing;
  if (!keys.signingKey(algorithms)) throw new ConfigError('keys.signing', `the profile offers JARM signed with ${algorithms.join(', ')}, and no active key has one of them`);
}
