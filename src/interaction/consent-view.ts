import type { FastifyBaseLogger } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import type { ConsentDetails } from '../ecosystems/hooks.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { SCOPE_GROUPS, type Catalogue, type ScopeGroup } from './locales/catalogue.js';
import { durationText, type ConsentGroup, type ConsentInput } from './pages.js';
import { AccountsUnavailable, type OfferedAccount } from './ui/bank-accounts.js';

/** A pack's label in `lang`: exactly, else by primary language, else English, else any. */
export function labelIn(labels: Record<string, string>, lang: string): string {
  const primary = lang.split('-')[0].toLowerCase();
  return labels[lang] ?? Object.entries(labels).find(([tag]) => tag.split('-')[0].toLowerCase() === primary)?.[1] ?? labels.en ?? Object.values(labels)[0] ?? '';
}

/**
 * What is asked, in plain words and grouped: a pack's own items (OFB permissions) when it gives
 * them, else each scope's text (the catalogue's, or `ui.scopes`); a scope nobody described is shown
 * as "other access", never by its raw name. A pack's dynamic scopes (`consent:<id>`) are not data.
 */
export function whatIsAsked(ctx: GatewayContext, request: AuthorizationRequest, details: ConsentDetails | undefined, t: Catalogue, lang: string): ConsentGroup[] {
  if (details?.items.length) return [{ items: details.items.map((item) => ({ title: labelIn(item.label, lang) })) }];
  const byGroup = new Map<ScopeGroup, ConsentGroup['items']>();
  let unknown = false;
  for (const scope of request.scope.split(' ')) {
    if (!scope || ctx.hooks.isDynamicScope?.(scope)) continue;
    const text = ctx.pages.ui.scopeText(scope, lang);
    if (!text) {
      unknown = true;
      continue;
    }
    const items = byGroup.get(text.group) ?? [];
    items.push({ title: text.title, ...(text.details ? { details: text.details } : {}) });
    byGroup.set(text.group, items);
  }
  if (unknown) byGroup.set('other', [...(byGroup.get('other') ?? []), { title: t.unknownScope }]);
  return SCOPE_GROUPS.filter((g) => byGroup.has(g)).map((g) => ({ heading: t.groups[g], items: byGroup.get(g)! }));
}

/** How long an approval lasts, as the page and the interaction API tell it. */
export type AccessDuration = { expiresAt: number } | { onceOff: true; accessTokenSeconds: number } | { refreshTokenSeconds: number };

/** The pack's end of the access (a CDR sharing duration, a Brazil consent's expiry), else once-off without refresh tokens, else the refresh-token lifetime. */
export function accessDuration(ctx: GatewayContext, client: Client, details: ConsentDetails | undefined): AccessDuration {
  if (details?.expiresAt !== undefined) return { expiresAt: details.expiresAt };
  const { lifetimes } = ctx.profile;
  if (details?.onceOff || !client.grantTypes.has('refresh_token')) return { onceOff: true, accessTokenSeconds: lifetimes.accessToken };
  const maxGrant = ctx.grants.lifetimes.maxSeconds;
  return { refreshTokenSeconds: lifetimes.refreshToken > 0 ? Math.min(lifetimes.refreshToken, maxGrant) : maxGrant };
}

/** One formatter per locale (the catalogues' few): making one costs more than a consent page's other work. */
const longDates = new Map<string, Intl.DateTimeFormat>();
function longDate(locale: string): Intl.DateTimeFormat {
  let format = longDates.get(locale);
  if (!format) longDates.set(locale, (format = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' })));
  return format;
}

export function howLong(ctx: GatewayContext, client: Client, details: ConsentDetails | undefined, t: Catalogue): string {
  const duration = accessDuration(ctx, client, details);
  if ('expiresAt' in duration) return t.consent.until(longDate(t.dateLocale).format(new Date(duration.expiresAt * 1000)));
  if ('onceOff' in duration) return t.consent.onceOff(durationText(t, duration.accessTokenSeconds));
  return t.consent.upTo(durationText(t, duration.refreshTokenSeconds));
}

/** Where the customer chooses accounts from: the pack's list, else the bank's (`ui.accounts`), else none. */
export async function offeredAccounts(ctx: GatewayContext, sub: string, details: ConsentDetails | undefined, log: FastifyBaseLogger): Promise<OfferedAccount[] | undefined> {
  if (details?.accounts) return details.accounts;
  const source = ctx.pages.accounts;
  if (!source) return undefined;
  try {
    const accounts = await source.list(sub);
    ctx.metrics?.accountLists.inc({ outcome: 'success' });
    return accounts;
  } catch (err) {
    ctx.metrics?.accountLists.inc({ outcome: 'failure' });
    // The operator must act: the bank's accounts endpoint is down or answers what it should not.
    if (err instanceof AccountsUnavailable) log.error({ event: 'accounts_unavailable', reason: err.message }, 'the bank accounts endpoint failed');
    throw err;
  }
}

/** The client as the consent page shows it: links only when they are https (they are the client's word). */
export async function clientShown(ctx: GatewayContext, client: Client, log: FastifyBaseLogger): Promise<ConsentInput['client']> {
  const https = (uri: string | undefined) => (uri && /^https:\/\/[^\s]+$/.test(uri) ? uri : undefined);
  const { client_uri, policy_uri, tos_uri } = client.metadata;
  const logoPath = await ctx.pages.clientLogos.pathFor(client, log);
  const [website, policy, terms] = [https(client_uri), https(policy_uri), https(tos_uri)];
  return { name: client.name, ...(logoPath ? { logoPath } : {}), ...(website ? { website } : {}), ...(policy ? { policy } : {}), ...(terms ? { terms } : {}) };
}
