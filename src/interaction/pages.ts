import type { FastifyReply } from 'fastify';
import { html, type SafeHtml } from './html.js';

export const STYLESHEET_PATH = '/assets/interaction.css';

export const STYLESHEET = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0; display: flex; justify-content: center; padding: 3rem 1rem; }
main { max-width: 26rem; width: 100%; }
h1 { font-size: 1.4rem; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
button { padding: .6rem 1.2rem; font-size: 1rem; cursor: pointer; }
button.primary { font-weight: 600; }
.error { border-left: 4px solid #c62828; padding: .5rem .75rem; background: rgba(198, 40, 40, .08); }
ul.scopes li { margin: .35rem 0; }
fieldset { margin-top: 1rem; }
fieldset label { display: inline; font-weight: normal; margin: 0; }
code { overflow-wrap: anywhere; }
`;

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

function layout(title: string, body: SafeHtml, lang: string): string {
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body><main>${body}</main></body>
</html>
`.value;
}

export function sendPage(reply: FastifyReply, status: number, title: string, body: SafeHtml, formTargets: string[] = [], lang = 'en'): FastifyReply {
  return reply.code(status).headers(pageHeaders(formTargets)).type('text/html; charset=utf-8').send(layout(title, body, lang));
}

export function loginPage(input: { action: string; csrf: string; clientName: string; username?: string; error?: string }): SafeHtml {
  return html`<h1>Sign in</h1>
<p>to continue to <strong>${input.clientName}</strong></p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" value="${input.username ?? ''}" required${input.username ? '' : html` autofocus`}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${input.username ? html` autofocus` : ''}>
<div class="actions">
<button type="submit" class="primary" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
</form>`;
}

export function totpPage(input: { action: string; csrf: string; clientName: string; error?: string }): SafeHtml {
  return html`<h1>Enter your code</h1>
<p>to continue to <strong>${input.clientName}</strong>: the 6-digit code your authenticator app shows now.</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="code">One-time code</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus>
<div class="actions">
<button type="submit" class="primary" name="action" value="verify">Continue</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
</form>`;
}

export function consentPage(input: {
  action: string;
  csrf: string;
  clientName: string;
  userName: string;
  scopes: { name: string; description: string }[];
  /** What an ecosystem pack adds (its permissions, an account choice), inside the form, in the page's language. */
  details?: ConsentDetailsView;
}): SafeHtml {
  const text = input.details?.text ?? CONSENT_TEXT.en;
  return html`<h1>${text.heading}</h1>
<p>${text.asks(input.clientName, input.userName)}</p>
<ul class="scopes">${input.scopes.map((s) => html`<li><strong>${s.description}</strong> <small>(<code>${s.name}</code>)</small></li>`)}</ul>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
${input.details?.body ?? ''}
<div class="actions">
<button type="submit" class="primary" name="decision" value="approve">${text.approve}</button>
<button type="submit" name="decision" value="deny">${text.deny}</button>
</div>
</form>`;
}

/** The consent page's own words, by language. */
export interface ConsentText {
  heading: string;
  asks(clientName: string, userName: string): SafeHtml;
  approve: string;
  deny: string;
}

export const CONSENT_TEXT: Record<string, ConsentText> = {
  en: {
    heading: 'Allow access?',
    asks: (client, user) => html`<strong>${client}</strong> asks to access your information, ${user}:`,
    approve: 'Approve',
    deny: 'Deny',
  },
  'pt-BR': {
    heading: 'Autorizar o compartilhamento?',
    asks: (client, user) => html`<strong>${client}</strong> pede acesso aos seus dados, ${user}:`,
    approve: 'Autorizar',
    deny: 'Recusar',
  },
};

export interface ConsentDetailsView {
  text: ConsentText;
  body: SafeHtml;
}

export function errorPage(error: string, description: string): SafeHtml {
  return html`<h1>This request cannot be completed</h1>
<p class="error" role="alert">${description}</p>
<p>Error code: <code>${error}</code></p>
<p>Return to the application you came from and start again.</p>`;
}

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Confirm your identity',
  profile: 'Your name and profile',
  email: 'Your e-mail address',
  address: 'Your postal address',
  phone: 'Your phone number',
  accounts: 'Your account details and balances',
  transactions: 'Your transaction history',
};

export function describeScopes(scope: string): { name: string; description: string }[] {
  return scope.split(' ').map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] ?? name }));
}
