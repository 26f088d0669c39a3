import type { Profile } from '../config/schema.js';

/** How DPoP proofs are judged (RFC 9449), from the profile's `dpop` section. */
export type DpopRules = NonNullable<Profile['dpop']>;

/** For profiles written before DPoP: the FAPI 2.0 algorithms, the assertions' clock tolerance, no nonce. */
export const DEFAULT_DPOP_RULES: DpopRules = {
  algorithms: ['PS256', 'ES256', 'EdDSA'],
  maxAgeSeconds: 60,
  futureToleranceSeconds: 10,
  nonce: 'off',
  nonceWindowSeconds: 60,
};

export function dpopRules(profile: Profile): DpopRules {
  return profile.dpop ?? DEFAULT_DPOP_RULES;
}
