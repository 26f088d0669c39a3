import type { GatewayContext } from '../context.js';

/** The `acr` values some login can reach in the configured mode, for discovery. */
export function acrValuesReachable(ctx: GatewayContext): string[] {
  const settings = ctx.config.interaction;
  if (settings.mode !== 'builtin') return settings.acrValues ?? [];
  return [...new Set([...ctx.users.acrValues(ctx.profile), ...(settings.acr?.password ?? []), ...(settings.acr?.passwordAndTotp ?? [])])];
}

/** The user claims logins of the configured mode can release, for discovery. */
export function userClaimNames(ctx: GatewayContext): string[] {
  const settings = ctx.config.interaction;
  if (settings.mode === 'external') return settings.claims ?? [];
  if (settings.mode === 'oidc') return Object.keys(settings.mapping?.claims ?? {});
  return ctx.users.claimNames();
}
