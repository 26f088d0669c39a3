import type { ClientRegistry } from '../clients/registry.js';
import type { Profile } from '../config/schema.js';
import type { EcosystemHooks } from '../ecosystems/hooks.js';
import type { Grant } from './grant.js';

/** The longest a grant lasts when neither the profile (`lifetimes.grant`) nor the ecosystem says. */
export const DEFAULT_MAX_GRANT_SECONDS = 400 * 86_400;

/** The lifetimes a grant's own lifetime follows from: it is kept exactly as long as something needs it. */
export interface GrantLifetimes {
  accessToken: number;
  /** A grant is written with its code, which may wait this long before its first tokens are issued. */
  code: number;
  /** The cap counted from the grant's creation, however often its refresh tokens rotate. */
  maxSeconds: number;
  /** The refresh-token lifetime of the grant's tokens (0: as long as the grant), or 'none' when it gets none. */
  refreshToken(grant: Grant): number | 'none';
  /** Whether something (an ecosystem's consent) may end a grant before it is first saved: save() then checks. */
  endableBeforeSave?: boolean;
}

export function grantLifetimes(profile: Profile, hooks: EcosystemHooks, clients: Pick<ClientRegistry, 'cached'>): GrantLifetimes {
  return {
    accessToken: profile.lifetimes.accessToken,
    code: profile.lifetimes.code,
    maxSeconds: profile.lifetimes.grant ?? DEFAULT_MAX_GRANT_SECONDS,
    endableBeforeSave: hooks.onGrantCreated !== undefined,
    refreshToken: (grant) => {
      if (!clients.cached(grant.clientId)?.grantTypes.has('refresh_token')) return 'none';
      const profileDefault = profile.lifetimes.refreshToken;
      return hooks.refreshTokenLifetime ? hooks.refreshTokenLifetime(grant, profileDefault) : profileDefault;
    },
  };
}

/** Seconds since the epoch after which the grant is over, whatever still points to it. */
export function grantEnd(grant: Grant, lifetimes: GrantLifetimes): number {
  return Math.min(grant.createdAt + lifetimes.maxSeconds, grant.expiresAt ?? Infinity);
}

/**
 * How long, from `now`, the store keeps a grant: as long as the longest-lived token issued from it
 * can live (access token, or refresh token plus the access token a last refresh gets; plus the code's life while it waits
 * for its code to be redeemed), never past its end. A grant without refresh tokens lives as long as
 * its access tokens.
 */
export function grantTtlSeconds(grant: Grant, lifetimes: GrantLifetimes, now: number, awaitingCode: boolean): number {
  const refresh = lifetimes.refreshToken(grant);
  // An access token from a refresh at the refresh token's last moment lives that much longer.
  const tokens = refresh === 'none' ? lifetimes.accessToken : refresh === 0 ? Infinity : refresh + lifetimes.accessToken;
  const needed = tokens + (awaitingCode ? lifetimes.code : 0);
  return Math.max(1, Math.min(needed, grantEnd(grant, lifetimes) - now));
}
