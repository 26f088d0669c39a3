import type { FastifyRequest } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { ConsentDecision } from '../ecosystems/hooks.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { OAuthError } from '../oauth/errors.js';
import type { Outcome } from './complete.js';
import type { OfferedAccount } from './ui/bank-accounts.js';

/**
 * The pack's word on the customer who just signed in (`onLogin`; a bank login's `asserted` claims
 * stand in for a built-in user's): undefined to go on, or the denial
 * that ends the authorization. Only `access_denied` ends it this way; anything else is a failure.
 */
export async function loginRefusal(ctx: GatewayContext, client: Client, request: AuthorizationRequest, sub: string, asserted?: Record<string, unknown>): Promise<Outcome | undefined> {
  if (!ctx.hooks.onLogin) return undefined;
  try {
    await ctx.hooks.onLogin({ request, client, sub, claims: ctx.users.bySub(sub)?.claims ?? asserted ?? {} });
    return undefined;
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'access_denied') return { approved: false, error: err.error, description: err.description };
    throw err;
  }
}

const ACCOUNT_FIELD = /^account-(\d{1,3})$/;

/** The accounts ticked in a consent form, among those offered (anything else in the form is ignored). */
export function chosenAccounts(offered: readonly Pick<OfferedAccount, 'id'>[], form: Record<string, string>): ConsentDecision {
  const ids = new Set(offered.map((a) => a.id));
  const chosen = Object.entries(form)
    .filter(([name, value]) => ACCOUNT_FIELD.test(name) && ids.has(value))
    .map(([, value]) => value);
  return { accountIds: [...new Set(chosen)] };
}

export function acceptLanguage(request: FastifyRequest): string | undefined {
  const value = request.headers['accept-language'];
  return typeof value === 'string' ? value.slice(0, 512) : undefined;
}
