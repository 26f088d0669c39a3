import type { FastifyReply } from 'fastify';
import { html, SafeHtml } from './html.js';
import type { Catalogue } from './locales/catalogue.js';
import { chooseLocale } from './locales/index.js';
import { LOGO_PATH, type Ui } from './ui/settings.js';
import type { OfferedAccount } from './ui/bank-accounts.js';

/** What a page is rendered with: the deployment's branding and the words of the chosen language. */
export interface PageContext {
  ui: Ui;
  t: Catalogue;
  lang: string;
}

/** A page in any language: its title and body, rendered once the language is known. */
export type PageRender = (page: PageContext) => { title: string; body: SafeHtml };

/** Security headers of every interaction page; `formTargets` are the origins a form may end up at. */
function pageHeaders(formTargets: string[]): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(' ');
  return {
    'content-security-policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    pragma: 'no-cache',
  };
}

/** The deployment's pages, as the listener was decorated with them (see app.ts). */
export function uiOf(reply: FastifyReply): Ui {
  const ui = (reply.server as unknown as { pageUi?: Ui }).pageUi;
  if (!ui) throw new Error('the listener has no customer pages (decorate it with pageUi)');
  return ui;
}

/** The language of a page the request's Accept-Language (and the authorization's `ui_locales`) chooses. */
export function pageLanguage(reply: FastifyReply, uiLocales?: readonly string[]): string {
  const ui = uiOf(reply);
  const accept = reply.request.headers['accept-language'];
  return chooseLocale(ui.locales, ui.defaultLocale, uiLocales, typeof accept === 'string' ? accept : undefined);
}

function layout(page: PageContext, title: string, body: SafeHtml): string {
  const { ui, t, lang } = page;
  const footer = ui.footer(lang);
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${ui.bankName}</title>
<link rel="stylesheet" href="${ui.cssPath}">
</head>
<body>
<a class="skip" href="#content">${t.page.skipToContent}</a>
<header class="bank"><div class="bar">${ui.logo ? html`<img src="${LOGO_PATH}" alt="" width="120" height="36">` : ''}<span class="name">${ui.bankName}</span><span class="secure">${t.page.secureNotice}</span></div></header>
<main id="content"><div class="card">
${body}
</div></main>
<footer><div class="bar">${
    ui.supportUrl || ui.privacyUrl
      ? html`<nav aria-label="${ui.bankName}">${ui.supportUrl ? html`<a href="${ui.supportUrl}">${t.page.support}</a>` : ''}${ui.privacyUrl ? html`<a href="${ui.privacyUrl}">${t.page.privacy}</a>` : ''}</nav>`
      : ''
  }${footer ? html`<p>${footer}</p>` : ''}</div></footer>
</body>
</html>
`.value;
}

/**
 * Sends a page. `body` is either markup (in the page's language already) or a render in any
 * language; `lang` is the language, chosen from the browser's Accept-Language when not given.
 */
export function sendPage(reply: FastifyReply, status: number, title: string, body: SafeHtml | PageRender, formTargets: string[] = [], lang?: string): FastifyReply {
  const ui = uiOf(reply);
  const chosen = lang && ui.locales.includes(lang) ? lang : pageLanguage(reply);
  const page: PageContext = { ui, t: ui.catalogue(chosen), lang: chosen };
  const view = body instanceof SafeHtml ? { title, body } : body(page);
  return reply.code(status).headers(pageHeaders(formTargets)).type('text/html; charset=utf-8').send(layout(page, view.title, view.body));
}

export function loginPage(input: { action: string; csrf: string; clientName: string; username?: string; error?: string }): PageRender {
  return ({ t }) => ({
    title: t.signIn.title,
    body: html`<h1>${t.signIn.heading}</h1>
<p class="lead">${t.signIn.toContinue} <strong>${input.clientName}</strong></p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="username">${t.signIn.username}</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" value="${input.username ?? ''}" required${input.username ? '' : html` autofocus`}>
<label for="password">${t.signIn.password}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${input.username ? html` autofocus` : ''}>
<div class="actions">
<button type="submit" class="primary" name="action" value="login">${t.signIn.submit}</button>
<button type="submit" name="action" value="cancel" formnovalidate>${t.signIn.cancel}</button>
</div>
</form>`,
  });
}

export function totpPage(input: { action: string; csrf: string; clientName: string; error?: string }): PageRender {
  return ({ t }) => ({
    title: t.totp.title,
    body: html`<h1>${t.totp.heading}</h1>
<p class="lead">${t.signIn.toContinue} <strong>${input.clientName}</strong>: ${t.totp.intro}</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="code">${t.totp.code}</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus>
<div class="actions">
<button type="submit" class="primary" name="action" value="verify">${t.totp.submit}</button>
<button type="submit" name="action" value="cancel" formnovalidate>${t.totp.cancel}</button>
</div>
</form>`,
  });
}

/** What the consent page shows of the data asked for: groups of items, each with an optional list of what it covers. */
export interface ConsentGroup {
  heading?: string;
  items: { title: string; details?: string[] }[];
}

export interface ConsentInput {
  action: string;
  csrf: string;
  client: { name: string; logoPath?: string; website?: string; policy?: string; terms?: string };
  customer: string;
  groups: ConsentGroup[];
  duration: string;
  /** The account choice: undefined when nothing is offered to choose from. */
  accounts?: { offered: OfferedAccount[]; error?: string };
}

export function consentPage(input: ConsentInput): PageRender {
  return ({ ui, t, lang }) => {
    const { client } = input;
    const withdrawal = ui.withdrawal(lang);
    const links = [
      client.website ? html`<a href="${client.website}" rel="noopener noreferrer">${t.consent.website}</a>` : '',
      client.policy ? html`<a href="${client.policy}" rel="noopener noreferrer">${t.consent.clientPolicy}</a>` : '',
      client.terms ? html`<a href="${client.terms}" rel="noopener noreferrer">${t.consent.clientTerms}</a>` : '',
    ].filter((l) => l !== '');
    const accounts = input.accounts;
    return {
      title: t.consent.title,
      body: html`<h1>${t.consent.heading}</h1>
<div class="client">${client.logoPath ? html`<img src="${client.logoPath}" alt="" width="56" height="56">` : ''}<p class="lead">${t.consent.asksBefore}<strong>${client.name}</strong>${t.consent.asksAfter(input.customer)}</p></div>
${links.length ? html`<p class="client-links">${links}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<h2>${t.consent.whatHeading}</h2>
${input.groups.map(
  (group) => html`${group.heading ? html`<h3>${group.heading}</h3>` : ''}<ul class="scopes">${group.items.map(
    (item) =>
      html`<li><strong>${item.title}</strong>${item.details?.length ? html`<details><summary>${t.consent.seeDetails}</summary><ul>${item.details.map((d) => html`<li>${d}</li>`)}</ul></details>` : ''}</li>`,
  )}</ul>`,
)}
<h2>${t.consent.howLongHeading}</h2>
<p>${input.duration}</p>
${accounts ? accountChoice(t, accounts) : ''}
<div class="notice"><p><strong>${t.consent.withdrawHeading}.</strong> ${t.consent.withdrawBefore}${withdrawal.url ? html`<a href="${withdrawal.url}">${withdrawal.where}</a>` : withdrawal.where}${t.consent.withdrawAfter}</p></div>
<div class="actions">
<button type="submit" class="primary" name="decision" value="approve">${t.consent.approve}</button>
<button type="submit" name="decision" value="deny">${t.consent.deny}</button>
</div>
</form>`,
    };
  };
}

function accountChoice(t: Catalogue, accounts: NonNullable<ConsentInput['accounts']>): SafeHtml {
  if (!accounts.offered.length) return html`<h2>${t.consent.accountsHeading}</h2><p>${t.consent.noAccounts}</p>`;
  return html`<fieldset${accounts.error ? html` aria-describedby="accounts-error"` : ''}><legend>${t.consent.accountsHeading}</legend>
<p class="hint muted">${t.consent.accountsHint}</p>
${accounts.error ? html`<p class="error" role="alert" id="accounts-error">${accounts.error}</p>` : ''}
${accounts.offered.map(
  (account, i) =>
    html`<div class="account"><input type="checkbox" id="account-${i}" name="account-${i}" value="${account.id}" checked><label for="account-${i}">${account.label}${account.detail ? html`<span>${account.detail}</span>` : ''}</label></div>`,
)}
</fieldset>`;
}

/** Situations the gateway words itself (see Catalogue.errors). */
export type ErrorSituation = 'completed' | 'elsewhere' | 'formExpired' | 'signInAtBank' | 'accountsUnavailable' | 'unavailable' | 'tooManyRequests';

/**
 * A customer-facing error page: what happened in plain words, a way back to the client (its website,
 * when known) and to the bank's support; the error code and the technical description only inside
 * a collapsed block.
 */
export function errorPage(
  error: string,
  description: string,
  options: { situation?: ErrorSituation; busySeconds?: number; client?: { name: string; website?: string } } = {},
): PageRender {
  return ({ ui, t }) => {
    const message =
      options.busySeconds !== undefined
        ? t.errors.busy(waitText(t, options.busySeconds))
        : options.situation
          ? t.errors[options.situation]
          : error === 'temporarily_unavailable'
            ? t.errors.unavailable
            : (t.errors.byCode[error] ?? t.errors.byCode.generic);
    const website = options.client?.website?.startsWith('https://') ? options.client.website : undefined;
    return {
      title: t.errors.title,
      body: html`<h1>${t.errors.heading}</h1>
<p class="error" role="alert">${message}</p>
<p>${t.errors.startAgain}</p>
${website ? html`<p><a class="button primary" href="${website}" rel="noopener noreferrer">${t.errors.backTo(options.client!.name)}</a></p>` : ''}
${ui.supportUrl ? html`<p>${t.errors.needHelp} <a href="${ui.supportUrl}">${t.page.support}</a></p>` : ''}
<details class="technical"><summary>${t.errors.technicalDetails}</summary>
<p>${t.errors.errorCode}: <code>${error}</code></p>
<p>${description}</p>
</details>`,
    };
  };
}

export function waitText(t: Catalogue, seconds: number): string {
  return seconds < 120 ? t.wait.seconds(seconds) : t.wait.minutes(Math.ceil(seconds / 60));
}

/** A length of time in the largest whole unit that says it (days, hours, minutes). */
export function durationText(t: Catalogue, seconds: number): string {
  if (seconds >= 2 * 86_400) return t.durations.days(Math.round(seconds / 86_400));
  if (seconds >= 2 * 3600) return t.durations.hours(Math.round(seconds / 3600));
  return t.durations.minutes(Math.max(1, Math.round(seconds / 60)));
}
