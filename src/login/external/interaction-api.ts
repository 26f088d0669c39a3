import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Client } from '../../clients/client.js';
import type { GatewayContext } from '../../context.js';
import { meetsEssentialAcr, requestedAcr } from '../../authentication-context/acr.js';
import type { Interaction } from '../../interaction/interaction.js';
import { OAuthError } from '../../oauth/errors.js';
import type { PushedRequest } from '../../oauth/par.js';
import { parIdOf, saveWithRef } from '../interaction-ref.js';
import { RESUME_PATH } from './external-login.js';
import { accessDuration, offeredAccounts } from '../../interaction/consent-view.js';
import { AccountsUnavailable } from '../../interaction/ui/bank-accounts.js';

export const API_PREFIX = '/interactions';

/** The errors the bank's app may end an authorization with (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1). */
const ABORT_ERRORS = new Set([
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
  'account_selection_required',
  'unmet_authentication_requirements',
  'temporarily_unavailable',
]);
/** Accepted difference between the bank's clock and ours for `auth_time`. */
const CLOCK_SKEW_SECONDS = 30;
const MAX = { sub: 255, amr: 16, value: 128, accounts: 200, description: 300 };

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(description);
  }
}

interface Live {
  ref: string;
  interaction: Interaction;
  pushed: PushedRequest;
  client: Client;
}

/**
 * The interaction API (docs/interaction-api.md): the bank's login app reads an interaction and
 * answers it with a login, a consent or an abort; every answer gets the URL to send the browser
 * back to. Served on `listeners.interaction` only, to callers with a certificate of the bank's CA.
 */
export function interactionApiRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const settings = ctx.config.interaction;
  const acrAllowed = new Set(settings.acrValues ?? []);
  const amrAllowed = settings.amrValues ? new Set(settings.amrValues) : undefined;
  const claimsAllowed = new Set(settings.claims ?? []);

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof ApiError) return answer(reply, err.status, { error: err.error, error_description: err.description, ...err.extra });
    if (err instanceof OAuthError) return answer(reply, err.status, { error: err.error, error_description: err.description });
    if (err.statusCode && err.statusCode < 500) return answer(reply, err.statusCode, { error: 'invalid_request', error_description: 'the request body is not valid JSON or is too large' });
    request.log.error({ err }, 'interaction API failure');
    return answer(reply, 500, { error: 'server_error', error_description: 'the request could not be processed' });
  });

  async function live(ref: string, options: { undecided?: boolean } = {}): Promise<Live> {
    const parId = await parIdOf(ctx, ref);
    const [interaction, pushed] = parId
      ? await Promise.all([ctx.store.get<Interaction>('interaction', parId), ctx.store.get<PushedRequest>('par', parId)])
      : [undefined, undefined];
    const client = interaction && pushed ? await ctx.clients.get(interaction.clientId) : undefined;
    if (!interaction || !pushed || !client || interaction.ref !== ref)
      throw new ApiError(404, 'invalid_interaction', 'the interaction is unknown, expired or already completed');
    if (options.undecided && interaction.decision) throw new ApiError(409, 'invalid_interaction', 'the interaction was already answered with a consent or an abort');
    return { ref, interaction, pushed, client };
  }

  const resumeUrl = (ref: string) => `${ctx.urls.issuer}${RESUME_PATH}/${ref}`;

  app.get<{ Params: { id: string } }>(`${API_PREFIX}/:id`, async (request, reply) => {
    const { ref, interaction, pushed, client } = await live(request.params.id);
    const authz = pushed.request;
    const acr = requestedAcr(authz);
    const signedIn = interaction.sub !== undefined;
    const details = signedIn ? await ctx.hooks.consentDetails?.({ request: authz, client, sub: interaction.sub! }) : undefined;
    // What the consent step shows: the accounts to choose among (the pack's, else the bank's list) and for how long.
    const accounts = signedIn ? await offeredAccounts(ctx, interaction.sub!, details, request.log).catch(accountsUnavailable) : undefined;
    const duration = accessDuration(ctx, client, details);
    const metadata = client.metadata;
    return answer(reply, 200, {
      interaction_id: ref,
      prompt: interaction.decision ? 'none' : signedIn ? 'consent' : 'login',
      client: {
        client_id: client.id,
        client_name: client.name,
        ...(metadata.logo_uri ? { logo_uri: metadata.logo_uri } : {}),
        ...(metadata.client_uri ? { client_uri: metadata.client_uri } : {}),
        ...(metadata.policy_uri ? { policy_uri: metadata.policy_uri } : {}),
        ...(metadata.tos_uri ? { tos_uri: metadata.tos_uri } : {}),
      },
      scopes: authz.scope.split(' '),
      ...(authz.claims ? { claims: authz.claims } : {}),
      ...(acr ? { acr: { values: acr.values, essential: acr.essential } } : {}),
      ...(authz.maxAge !== undefined ? { max_age: authz.maxAge } : {}),
      ...(authz.prompt ? { prompt_values: authz.prompt } : {}),
      ...(authz.prompt?.includes('login') ? { login_after: interaction.startedAt } : {}),
      acr_values_supported: [...acrAllowed],
      ...(signedIn ? { login: { sub: interaction.sub, acr: interaction.acr?.[0], amr: interaction.amr, auth_time: interaction.authTime } } : {}),
      ...(details ? { ecosystem: details } : {}),
      ...(accounts ? { accounts } : {}),
      duration:
        'expiresAt' in duration
          ? { expires_at: duration.expiresAt }
          : 'onceOff' in duration
            ? { once_off: true, access_token_lifetime: duration.accessTokenSeconds }
            : { refresh_token_lifetime: duration.refreshTokenSeconds },
      ...(interaction.decision ? { redirect_to: resumeUrl(ref) } : {}),
    });
  });

  app.post<{ Params: { id: string }; Body: unknown }>(`${API_PREFIX}/:id/login`, async (request, reply) => {
    const { ref, interaction, pushed, client } = await live(request.params.id, { undecided: true });
    const body = object(request.body);
    const sub = text(body.sub, 'sub', MAX.sub);
    if (sub === undefined) throw invalid('sub is required');
    const acr = text(body.acr, 'acr', MAX.value);
    if (acr !== undefined && !acrAllowed.has(acr)) throw invalid(`acr "${acr}" is not one of interaction.acrValues`);
    const amr = strings(body.amr, 'amr', MAX.amr).filter((m) => !amrAllowed || amrAllowed.has(m));
    const now = Math.floor(Date.now() / 1000);
    const authTime = body.auth_time === undefined ? now : body.auth_time;
    if (!Number.isInteger(authTime) || (authTime as number) > now + CLOCK_SKEW_SECONDS || (authTime as number) < 0)
      throw invalid('auth_time must be the login time in seconds since the epoch, not in the future');
    const claims = userClaims(body.claims);
    const authz = pushed.request;
    // prompt=login and max_age: the login must have happened now, not be remembered from earlier.
    if (authz.prompt?.includes('login') && (authTime as number) < (interaction.startedAt ?? now) - CLOCK_SKEW_SECONDS)
      throw new ApiError(400, 'login_required', 'the client asked for a fresh login (prompt=login): auth_time must be after login_after');
    if (authz.maxAge !== undefined && now - (authTime as number) > authz.maxAge + CLOCK_SKEW_SECONDS)
      throw new ApiError(400, 'login_required', `the client asked for a login within max_age (${authz.maxAge} s): authenticate the customer again`);
    const reached = acr === undefined ? [] : [acr];
    if (!meetsEssentialAcr(authz, reached)) {
      // Step-up: the interaction stays open for a stronger login (or an abort).
      request.log.warn({ audit: 'acr_unmet', client_id: client.id, acr }, 'acr_unmet');
      throw new ApiError(400, 'unmet_authentication_requirements', 'the login did not reach the acr the client requires: step up, or abort', {
        required_acr: requestedAcr(authz)!.values,
      });
    }
    let updated: Interaction = { ...interaction, sub, authTime: authTime as number, acr: reached, ...(amr.length ? { amr } : {}), claims };
    if (!amr.length) delete updated.amr;
    try {
      await ctx.hooks.onLogin?.({ request: authz, client, sub, claims });
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      request.log.warn({ audit: 'login_refused', client_id: client.id, reason: err.description }, 'login_refused');
      updated = { ...interaction, decision: { error: err.error, description: err.description } };
    }
    await saveWithRef(ctx, updated);
    request.log.info({ audit: 'interaction_login', client_id: client.id, acr }, 'interaction_login');
    return answer(reply, 200, { redirect_to: resumeUrl(ref) });
  });

  app.post<{ Params: { id: string }; Body: unknown }>(`${API_PREFIX}/:id/consent`, async (request, reply) => {
    const { ref, interaction, pushed, client } = await live(request.params.id, { undecided: true });
    if (interaction.sub === undefined) throw new ApiError(409, 'login_required', 'submit a login before the consent');
    const body = object(request.body);
    const requested = pushed.request.scope.split(' ');
    const granted = body.scopes === undefined ? requested : strings(body.scopes, 'scopes', requested.length);
    const outside = granted.filter((s) => !requested.includes(s));
    if (outside.length) throw invalid(`scopes must be among those requested (not: ${outside.join(' ')})`);
    if (!granted.length) throw invalid('grant at least one scope, or abort with access_denied');
    const accountIds = body.account_ids === undefined ? undefined : strings(body.account_ids, 'account_ids', MAX.accounts);
    if (accountIds) {
      const details = await ctx.hooks.consentDetails?.({ request: pushed.request, client, sub: interaction.sub });
      const offered = await offeredAccounts(ctx, interaction.sub, details, request.log).catch(accountsUnavailable);
      const unknown = offered ? accountIds.filter((id) => !offered.some((a) => a.id === id)) : [];
      if (unknown.length) throw invalid(`account_ids not offered for this consent: ${unknown.join(', ')}`);
    }
    const scope = requested.filter((s) => granted.includes(s)).join(' ');
    await saveWithRef(ctx, { ...interaction, decision: { scope, ...(accountIds ? { accountIds } : {}) } });
    request.log.info({ audit: 'interaction_consent', client_id: client.id, scope }, 'interaction_consent');
    return answer(reply, 200, { redirect_to: resumeUrl(ref) });
  });

  app.post<{ Params: { id: string }; Body: unknown }>(`${API_PREFIX}/:id/abort`, async (request, reply) => {
    const { ref, interaction, client } = await live(request.params.id, { undecided: true });
    const body = object(request.body);
    const error = text(body.error, 'error', 64) ?? 'access_denied';
    if (!ABORT_ERRORS.has(error)) throw invalid(`error must be one of ${[...ABORT_ERRORS].join(', ')}`);
    const description = text(body.error_description, 'error_description', MAX.description) ?? 'the authorization was ended at the bank';
    if (!/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/.test(description)) throw invalid('error_description may hold printable ASCII only, without " and \\');
    await saveWithRef(ctx, { ...interaction, decision: { error, description } });
    request.log.info({ audit: 'interaction_abort', client_id: client.id, error }, 'interaction_abort');
    return answer(reply, 200, { redirect_to: resumeUrl(ref) });
  });

  /** Claims the bank asserts about the customer: only configured names, JSON values, bounded. */
  function userClaims(value: unknown): Record<string, unknown> {
    if (value === undefined) return {};
    const claims = object(value, 'claims');
    for (const name of Object.keys(claims)) if (!claimsAllowed.has(name)) throw invalid(`claim "${name}" is not one of interaction.claims`);
    if (JSON.stringify(claims).length > 8192) throw invalid('claims are larger than 8 KiB');
    return claims;
  }
}

/** The bank's account list failed (logged where it was read): the bank app may try again. */
function accountsUnavailable(err: unknown): never {
  if (err instanceof AccountsUnavailable) throw new ApiError(503, 'temporarily_unavailable', 'the list of accounts could not be read from the accounts endpoint (ui.accounts)');
  throw err;
}

function answer(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).headers({ 'cache-control': 'no-store', pragma: 'no-cache' }).type('application/json').send(body);
}

function invalid(description: string): ApiError {
  return new ApiError(400, 'invalid_request', description);
}

function object(value: unknown, name = 'the body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${name} must be a JSON object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, name: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw invalid(`${name} must be a string of 1 to ${max} characters`);
  return value;
}

function strings(value: unknown, name: string, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > max || value.some((v) => typeof v !== 'string' || v.length === 0 || v.length > MAX.value))
    throw invalid(`${name} must be an array of at most ${max} strings`);
  return [...new Set(value as string[])];
}
