import type { AuthorizationRequest } from '../oauth/authorization-request.js';

/** What the client asked for as `acr`: the essential `claims.id_token.acr` (value/values), else `acr_values`. */
export interface AcrRequest {
  values: string[];
  essential: boolean;
}

export function requestedAcr(request: AuthorizationRequest): AcrRequest | undefined {
  const claim = request.claims?.id_token?.acr;
  if (claim) {
    const values = typeof claim.value === 'string' ? [claim.value] : Array.isArray(claim.values) ? claim.values.filter((v): v is string => typeof v === 'string') : [];
    if (values.length) return { values, essential: claim.essential === true };
  }
  if (request.acrValues?.length) return { values: request.acrValues, essential: false };
  return undefined;
}

export type AcrChoice = { acr: string | undefined } | { unmet: string };

/**
 * The `acr` the ID token reports: one the client asked for that this user's login reaches, in the
 * client's order of preference. Never one not reached: a voluntary request that cannot be met gets
 * the login's own default (or none), an essential one ends the authorization (OIDC Core §5.5.1.1).
 * Unasked, nothing is claimed.
 */
export function chooseAcr(request: AuthorizationRequest, reached: readonly string[]): AcrChoice {
  const asked = requestedAcr(request);
  if (!asked) return { acr: undefined };
  const met = asked.values.find((v) => reached.includes(v));
  if (met !== undefined) return { acr: met };
  if (asked.essential) return { unmet: `the requested authentication context (${asked.values.join(', ')}) cannot be met` };
  return { acr: reached[0] };
}

/** Whether `reached` satisfies what the client asked for as essential (always, when nothing essential was asked). */
export function meetsEssentialAcr(request: AuthorizationRequest, reached: readonly string[]): boolean {
  const asked = requestedAcr(request);
  return !asked?.essential || asked.values.some((v) => reached.includes(v));
}
