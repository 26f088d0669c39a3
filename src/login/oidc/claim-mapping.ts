import type { InteractionSettings } from '../../config/schema.js';
import type { Authentication } from '../../authentication-context/authentication.js';

/**
 * An identity provider's ID token in the gateway's terms: its `acr` through `mapping.acr` and kept
 * only when in `acrValues` (otherwise nothing is claimed), `amr` through `mapping.amr` and
 * `amrValues`, and the claims named in `mapping.claims` (gateway name → provider name).
 */
export function mapUpstreamLogin(idToken: Record<string, unknown>, settings: InteractionSettings): Authentication {
  const acrAllowed = new Set(settings.acrValues ?? []);
  const upstreamAcr = typeof idToken.acr === 'string' ? idToken.acr : undefined;
  const acr = upstreamAcr === undefined ? undefined : (settings.mapping?.acr?.[upstreamAcr] ?? upstreamAcr);
  const amr = (Array.isArray(idToken.amr) ? idToken.amr : [])
    .filter((m): m is string => typeof m === 'string')
    .map((m) => settings.mapping?.amr?.[m] ?? m)
    .filter((m) => !settings.amrValues || settings.amrValues.includes(m));
  const claims: Record<string, unknown> = {};
  for (const [name, upstreamName] of Object.entries(settings.mapping?.claims ?? {})) if (idToken[upstreamName] !== undefined) claims[name] = idToken[upstreamName];
  const now = Math.floor(Date.now() / 1000);
  // Without auth_time the provider signed the customer in just now, for this request.
  const authTime = typeof idToken.auth_time === 'number' && idToken.auth_time <= now + 60 ? idToken.auth_time : now;
  return {
    sub: String(idToken.sub),
    authTime,
    acr: acr !== undefined && acrAllowed.has(acr) ? [acr] : [],
    ...(amr.length ? { amr: [...new Set(amr)] } : {}),
    claims,
  };
}
