import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { PushedRequest } from '../oauth/par.js';
import { constantTimeEqual, randomToken } from '../tokens/secrets.js';
import type { Authentication } from '../authentication-context/authentication.js';
import type { OfferedAccount } from './ui/bank-accounts.js';
import type { SequenceStep } from '../store/store.js';

/**
 * A login/consent in progress. There is one per pushed authorization request, stored under the
 * request's id and bound to the first browser that opened it (RFC 9126 §7.3: a request_uri is used
 * once); reloads in that browser continue it. It refers to the pushed request rather than copying
 * it: both are read in the same round trip, since they share their id.
 */
export interface Interaction {
  /** The pushed request's id, which is also this interaction's id (and its URL). */
  parId: string;
  clientId: string;
  /** Echoed in every form: a cross-site form post cannot know it. */
  csrf: string;
  /** The browser-binding cookie's value: the interaction continues only in the browser that started it. */
  browser: string;
  sub?: string;
  authTime?: number;
  /** What the login reached and asserted (see Authentication); absent before login. */
  acr?: string[];
  amr?: string[];
  claims?: Record<string, unknown>;
  /** Seconds since the epoch: when the interaction began (prompt=login wants a login after it). */
  startedAt?: number;
  /** The opaque id the bank's login app or identity provider knows this interaction by (external, oidc). */
  ref?: string;
  /** Built-in login: the password was right, the one-time code of this sub is awaited. */
  totpPending?: string;
  /** external: the bank app's decision, applied when the browser comes back. */
  decision?: { scope: string; accountIds?: string[] } | { error: string; description: string };
  /** The accounts the bank offered on the consent page (`ui.accounts`): a choice is checked against what was shown. */
  accounts?: OfferedAccount[];
  /** oidc: the upstream request's PKCE verifier and nonce. */
  upstream?: { codeVerifier: string; nonce: string };
}

/** The login recorded in an interaction, as an approval carries it (nothing when nobody signed in yet). */
export function loginOf(interaction: Interaction): Omit<Authentication, 'acr'> & { acr?: string[] } {
  const { sub, authTime, acr, amr, claims } = interaction;
  return { sub: sub!, authTime: authTime!, ...(acr ? { acr } : {}), ...(amr ? { amr } : {}), ...(claims ? { claims } : {}) };
}

export const BROWSER_COOKIE = '__Host-fgw-browser';
export const SESSION_COOKIE = '__Host-fgw-session';

const COOKIE_OPTIONS = { path: '/', secure: true, httpOnly: true, sameSite: 'lax' } as const;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** This browser's binding value, when it has a well-formed one. */
function browserCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[BROWSER_COOKIE];
  return value && TOKEN.test(value) ? value : undefined;
}

export function sameBrowser(request: FastifyRequest, interaction: Interaction): boolean {
  const cookie = browserCookie(request);
  return cookie !== undefined && constantTimeEqual(cookie, interaction.browser);
}

/**
 * Starts the interaction of a pushed request in this browser, unless one exists: of two browsers
 * opening it at once, one wins (an atomic write); the other gets undefined. Tabs of the winning
 * browser share the interaction. With `guards` (what the caller decided from copies must still be
 * so), it is written only when they hold and no interaction exists: 'guards failed' otherwise, and
 * nothing was written.
 */
export async function startInteraction(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  input: Omit<Interaction, 'csrf' | 'browser'>,
  guards?: readonly SequenceStep[],
): Promise<Interaction | undefined | 'guards failed'> {
  const existing = browserCookie(request);
  const interaction: Interaction = { startedAt: Math.floor(Date.now() / 1000), ...input, csrf: randomToken(), browser: existing ?? randomToken() };
  const lifetime = ctx.profile.lifetimes.interaction;
  if (guards) {
    const ran = await ctx.store.sequence([...guards, { set: 'interaction', id: input.parId, value: interaction, ttlSeconds: lifetime, ifAbsent: true }]);
    if (ran.length <= guards.length || ran.at(-1) !== true) return 'guards failed';
  } else if (!(await ctx.store.setIfAbsent('interaction', input.parId, interaction, lifetime))) {
    const winner = await ctx.store.get<Interaction>('interaction', input.parId);
    return winner && sameBrowser(request, winner) ? winner : undefined;
  }
  if (!existing) reply.setCookie(BROWSER_COOKIE, interaction.browser, COOKIE_OPTIONS);
  return interaction;
}

export function saveInteraction(ctx: GatewayContext, interaction: Interaction): Promise<void> {
  return ctx.store.set('interaction', interaction.parId, interaction, ctx.profile.lifetimes.interaction);
}

export type FoundInteraction =
  /** `copied`: from this replica's copies (see findInteraction). */
  | { found: 'live'; interaction: Interaction; pushed: PushedRequest; copied?: true }
  /** The request completed (here or in another tab) or expired. */
  | { found: 'gone' }
  /** The interaction belongs to another browser (or to nobody). */
  | { found: 'elsewhere' };

/**
 * The interaction and its pushed request (one round trip), when both are live and it belongs to this
 * browser. With `copies`, from this replica's copies of both when it has them (Store.copy: the
 * authorization step that showed the page wrote the one and read the other here), with no round
 * trip: only for a step that ends the authorization, whose consumption then guards on the copy
 * (completeAuthorization's `readAs`); the pushed request never changes, nor do an interaction's
 * browser and CSRF token.
 */
export async function findInteraction(ctx: GatewayContext, request: FastifyRequest, uid: string, copies = false): Promise<FoundInteraction> {
  if (!TOKEN.test(uid)) return { found: 'elsewhere' };
  if (copies && ctx.store.copy) {
    const interaction = ctx.store.copy<Interaction>('interaction', uid);
    const pushed = interaction && ctx.store.copy<PushedRequest>('par', uid);
    if (interaction && pushed) return sameBrowser(request, interaction) ? { found: 'live', interaction, pushed, copied: true } : { found: 'elsewhere' };
  }
  const [interaction, pushed] = await ctx.store.getMany<[Interaction, PushedRequest]>([
    ['interaction', uid],
    ['par', uid],
  ]);
  if (interaction && !sameBrowser(request, interaction)) return { found: 'elsewhere' };
  if (!interaction || !pushed) return { found: 'gone' };
  return { found: 'live', interaction, pushed };
}

export function csrfValid(interaction: Interaction, presented: string | undefined): boolean {
  return presented !== undefined && constantTimeEqual(presented, interaction.csrf);
}

/** A logged-in browser session, so the next authorization can skip the login form. */
export type LoginSession = Omit<Authentication, 'acr'> & { acr?: string[] };

export async function startSession(ctx: GatewayContext, reply: FastifyReply, session: LoginSession): Promise<void> {
  const ttl = ctx.profile.lifetimes.session;
  if (ttl === 0) return;
  const id = randomToken();
  await ctx.store.set('session', id, session, ttl);
  reply.setCookie(SESSION_COOKIE, id, { ...COOKIE_OPTIONS, maxAge: ttl });
}

/** The browser's session id, when its cookie carries a well-formed one. */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const id = request.cookies[SESSION_COOKIE];
  return id && TOKEN.test(id) ? id : undefined;
}

export async function findSession(ctx: GatewayContext, request: FastifyRequest): Promise<LoginSession | undefined> {
  const id = sessionIdOf(request);
  return id === undefined ? undefined : ctx.store.get<LoginSession>('session', id);
}
