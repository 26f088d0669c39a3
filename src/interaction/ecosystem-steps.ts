import type { FastifyRequest } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { ConsentDecision, ConsentDetails } from '../ecosystems/hooks.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { OAuthError } from '../oauth/errors.js';
import type { Outcome } from './complete.js';
import { html } from './html.js';
import { CONSENT_TEXT, type ConsentDetailsView } from './pages.js';

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

/**
 * The page language for a pack's details: the first of the request's `ui_locales`, then of the
 * browser's Accept-Language, that the details and the page both have; English otherwise.
 */
export function detailsLanguage(details: ConsentDetails, request: AuthorizationRequest, acceptLanguage: string | undefined): string {
  const offered = new Set(details.items.flatMap((item) => Object.keys(item.label)).filter((tag) => tag in CONSENT_TEXT));
  const browser = (acceptLanguage ?? '')
    .split(',')
    .map((part) => part.trim().split(';'))
    .map(([tag, ...params]) => ({ tag: tag.trim(), q: Number(params.find((p) => p.trim().startsWith('q='))?.trim().slice(2) ?? 1) }))
    .filter((entry) => entry.tag && entry.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((entry) => entry.tag);
  for (const wanted of [...(request.uiLocales ?? []), ...browser]) {
    const match = [...offered].find((tag) => tag.toLowerCase() === wanted.toLowerCase() || tag.split('-')[0].toLowerCase() === wanted.toLowerCase());
    if (match) return match;
  }
  return 'en';
}

const CHOOSE = { en: 'Accounts to share', 'pt-BR': 'Contas a compartilhar' } as Record<string, string>;
export const NO_ACCOUNT_CHOSEN = { en: 'Choose at least one account.', 'pt-BR': 'Escolha pelo menos uma conta.' } as Record<string, string>;

/** The details as part of the consent form: the permissions, then a checkbox per account (all ticked at first). */
export function detailsView(details: ConsentDetails, lang: string, error?: string): ConsentDetailsView {
  const label = (labels: Record<string, string>) => labels[lang] ?? labels.en ?? Object.values(labels)[0] ?? '';
  const accounts = details.accounts ?? [];
  const body = html`<ul class="scopes">${details.items.map((item) => html`<li>${label(item.label)}</li>`)}</ul>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${accounts.length
  ? html`<fieldset><legend>${CHOOSE[lang] ?? CHOOSE.en}</legend>${accounts.map(
      (account, i) => html`<div><input type="checkbox" id="account-${i}" name="account-${i}" value="${account.id}" checked> <label for="account-${i}">${account.label}</label></div>`,
    )}</fieldset>`
  : ''}`;
  return { text: CONSENT_TEXT[lang] ?? CONSENT_TEXT.en, body };
}

/** The accounts ticked in a consent form, among those offered (anything else in the form is ignored). */
export function chosenAccounts(details: ConsentDetails, form: Record<string, string>): ConsentDecision {
  const offered = new Set((details.accounts ?? []).map((a) => a.id));
  const chosen = Object.entries(form)
    .filter(([name, value]) => ACCOUNT_FIELD.test(name) && offered.has(value))
    .map(([, value]) => value);
  return { accountIds: [...new Set(chosen)] };
}

export function acceptLanguage(request: FastifyRequest): string | undefined {
  const value = request.headers['accept-language'];
  return typeof value === 'string' ? value.slice(0, 512) : undefined;
}
