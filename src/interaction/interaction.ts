import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { constantTimeEqual, randomToken } from '../tokens/secrets.js';

/** A login/consent in progress for one pushed authorization request in one browser. */
export interface Interaction {
  uid: string;
  parId: string;
  clientId: string;
  /**
   * A copy of the pushed request, so the consent step can write the code and grant in the same
   * round trip as the one that consumes the pushed request (whose consumption still decides).
   */
  request: AuthorizationRequest;
  /** Echoed in every form: a cross-site form post cannot know it. */
  csrf: string;
  /** The browser-binding cookie's value: the interaction continues only in the browser that started it. */
  browser: string;
  sub?: string;
  authTime?: number;
}

export const BROWSER_COOKIE = '__Host-fgw-browser';
export const SESSION_COOKIE = '__Host-fgw-session';

const COOKIE_OPTIONS = { path: '/', secure: true, httpOnly: true, sameSite: 'lax' } as const;

/** The browser-binding value of this request, set as a cookie when the browser has none. */
export function browserBinding(request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[BROWSER_COOKIE];
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const value = randomToken();
  reply.setCookie(BROWSER_COOKIE, value, COOKIE_OPTIONS);
  return value;
}

export async function startInteraction(ctx: GatewayContext, input: Omit<Interaction, 'uid' | 'csrf'>): Promise<Interaction> {
  const interaction: Interaction = { ...input, uid: randomToken(), csrf: randomToken() };
  await saveInteraction(ctx, interaction);
  return interaction;
}

export function saveInteraction(ctx: GatewayContext, interaction: Interaction): Promise<void> {
  return ctx.store.set('interaction', interaction.uid, interaction, ctx.profile.lifetimes.interaction);
}

/** The interaction, when it is live and belongs to this browser. */
export async function findInteraction(ctx: GatewayContext, request: FastifyRequest, uid: string): Promise<Interaction | undefined> {
  const interaction = await ctx.store.get<Interaction>('interaction', uid);
  const cookie = request.cookies[BROWSER_COOKIE];
  if (!interaction || !cookie || !constantTimeEqual(cookie, interaction.browser)) return undefined;
  return interaction;
}

export function csrfValid(interaction: Interaction, presented: string | undefined): boolean {
  return presented !== undefined && constantTimeEqual(presented, interaction.csrf);
}

/** A logged-in browser session, so the next authorization can skip the login form. */
export interface LoginSession {
  sub: string;
  authTime: number;
}

export async function startSession(ctx: GatewayContext, reply: FastifyReply, session: LoginSession): Promise<void> {
  const ttl = ctx.profile.lifetimes.session;
  if (ttl === 0) return;
  const id = randomToken();
  await ctx.store.set('session', id, session, ttl);
  reply.setCookie(SESSION_COOKIE, id, { ...COOKIE_OPTIONS, maxAge: ttl });
}

export async function findSession(ctx: GatewayContext, request: FastifyRequest): Promise<LoginSession | undefined> {
  const id = request.cookies[SESSION_COOKIE];
  if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
  return ctx.store.get<LoginSession>('session', id);
}
