import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import { importJWK, type JWK } from 'jose';
import { ConfigError } from '../../config/config-error.js';
import type { InteractionSettings } from '../../config/schema.js';
import type { GatewayContext } from '../../context.js';
import { meetsEssentialAcr, requestedAcr } from '../../authentication-context/acr.js';
import type { Authentication } from '../../authentication-context/authentication.js';
import { outboundFetch } from '../../http/outbound-fetch.js';
import { completeAuthorization } from '../../interaction/complete.js';
import { findInteraction, startSession, type Interaction } from '../../interaction/interaction.js';
import { notLive, showInteraction } from '../../interaction/routes.js';
import { OAuthError } from '../../oauth/errors.js';
import type { PushedRequest } from '../../oauth/par.js';
import type { BankLogin } from '../bank-login.js';
import { interactionRef, parIdOf, saveWithRef } from '../interaction-ref.js';
import { mapUpstreamLogin } from './claim-mapping.js';

export const CALLBACK_PATH = '/authorize/callback';
/** Errors the provider may answer with that are passed on as they are; any other becomes access_denied. */
const PASSED_ON = new Set(['access_denied', 'login_required', 'interaction_required', 'consent_required', 'temporarily_unavailable']);
const CLOCK_SKEW_SECONDS = 30;

/**
 * `interaction.mode: oidc`: the customer signs in at the bank's OpenID provider; the gateway is its
 * confidential client (authorization code, PKCE, private_key_jwt or mTLS), maps the ID token's sub,
 * acr, amr and configured claims, then shows its own consent page. What the client asked of the
 * login (acr_values or an essential acr, max_age, prompt=login) is asked of the provider, and
 * checked on what comes back.
 */
export class OidcLogin implements BankLogin {
  #configuration: Promise<oidc.Configuration> | undefined;

  private constructor(
    private readonly ctx: GatewayContext,
    private readonly settings: InteractionSettings,
    private readonly discover: () => Promise<oidc.Configuration>,
  ) {}

  static async create(ctx: GatewayContext): Promise<OidcLogin> {
    const settings = ctx.config.interaction;
    const read = (file: string, key: string) =>
      readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(key, `cannot read ${file}: ${err.code ?? err.message}`);
      });
    const tls = {
      ...(settings.ca ? { ca: await read(settings.ca, 'interaction.ca') } : {}),
      ...(settings.clientCertificate
        ? { cert: await read(settings.clientCertificate.cert, 'interaction.clientCertificate.cert'), key: await read(settings.clientCertificate.key, 'interaction.clientCertificate.key') }
        : {}),
    };
    let auth: oidc.ClientAuth;
    if (settings.clientAuth === 'private_key_jwt') {
      let jwk: JWK;
      try {
        jwk = JSON.parse((await read(settings.clientKey!, 'interaction.clientKey')).toString('utf8'));
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        throw new ConfigError('interaction.clientKey', 'is not a JSON Web Key');
      }
      if (!jwk.d || !jwk.alg || !jwk.kid) throw new ConfigError('interaction.clientKey', 'must be a private JWK with alg and kid');
      const key = (await importJWK(jwk, jwk.alg)) as CryptoKey;
      auth = oidc.PrivateKeyJwt({ key, kid: jwk.kid });
    } else {
      auth = oidc.TlsClientAuth();
    }
    // The provider is the operator's choice; its endpoints are public addresses unless allowed otherwise.
    const fetch = outboundFetch({ maxBytes: 256 * 1024, timeoutMs: 10_000, allowAnyAddress: settings.allowPrivateAddresses === true, tls });
    const metadata: Partial<oidc.ClientMetadata> = settings.clientAuth === 'tls_client_auth' ? { use_mtls_endpoint_aliases: true } : {};
    const discover = () =>
      oidc.discovery(new URL(settings.issuer!), settings.client_id!, metadata, auth, { [oidc.customFetch]: fetch as unknown as oidc.CustomFetch, timeout: 10 });
    return new OidcLogin(ctx, settings, discover);
  }

  /** The provider's metadata, discovered on first use and again after a failure. */
  #config(): Promise<oidc.Configuration> {
    this.#configuration ??= this.discover().catch((err) => {
      this.#configuration = undefined;
      throw err;
    });
    return this.#configuration;
  }

  async begin(reply: FastifyReply, interaction: Interaction, pushed: PushedRequest): Promise<FastifyReply> {
    let config: oidc.Configuration;
    try {
      config = await this.#config();
    } catch (err) {
      reply.log.error({ event: 'upstream_login_unavailable', cause: (err as Error).message }, 'the identity provider cannot be reached');
      throw new OAuthError('temporarily_unavailable', "The bank's sign-in service cannot be reached right now.");
    }
    const { ref, interaction: withRef } = await interactionRef(this.ctx, interaction);
    // A reload or another tab continues the same upstream request: whichever comes back first completes it.
    const { codeVerifier, nonce } = withRef.upstream ?? { codeVerifier: oidc.randomPKCECodeVerifier(), nonce: oidc.randomNonce() };
    if (!withRef.upstream) await saveWithRef(this.ctx, { ...withRef, upstream: { codeVerifier, nonce } });
    const authz = pushed.request;
    const params: Record<string, string> = {
      redirect_uri: this.ctx.urls.issuer + CALLBACK_PATH,
      scope: this.settings.scope ?? 'openid',
      state: ref,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    // What the client asked of the login, in the provider's terms (asked voluntarily: the gateway checks what comes back).
    const asked = requestedAcr(authz)?.values.flatMap((v) => this.#upstreamAcr(v)) ?? [];
    if (asked.length) params.acr_values = [...new Set(asked)].join(' ');
    if (authz.maxAge !== undefined) params.max_age = String(authz.maxAge);
    if (authz.prompt?.includes('login')) params.prompt = 'login';
    const url = oidc.buildAuthorizationUrl(config, params);
    return reply.code(303).headers({ location: url.href, 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' }).send();
  }

  /** The provider's values that map to a gateway `acr` (itself when unmapped). */
  #upstreamAcr(gatewayAcr: string): string[] {
    const mapped = Object.entries(this.settings.mapping?.acr ?? {}).filter(([, to]) => to === gatewayAcr).map(([from]) => from);
    return mapped.length ? mapped : [gatewayAcr];
  }

  pageRoutes(app: FastifyInstance): void {
    app.get<{ Querystring: Record<string, string | undefined> }>(CALLBACK_PATH, (request, reply) => this.#callback(request, reply));
  }

  async #callback(request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>, reply: FastifyReply): Promise<FastifyReply> {
    const ctx = this.ctx;
    const state = typeof request.query.state === 'string' ? request.query.state : '';
    const parId = await parIdOf(ctx, state);
    if (!parId) return notLive(reply, 'gone');
    const found = await findInteraction(ctx, request, parId);
    if (found.found !== 'live') return notLive(reply, found.found);
    const { interaction, pushed } = found;
    const client = await ctx.clients.get(interaction.clientId);
    if (!client || !interaction.upstream || interaction.ref !== state) return notLive(reply, 'gone');
    const deny = (error: string, description: string, reason: string) => {
      ctx.metrics?.loginFailures.inc({ reason: 'bank' });
      request.log.warn({ audit: 'upstream_login_refused', client_id: client.id, reason }, 'upstream_login_refused');
      return completeAuthorization(ctx, reply, parId, pushed, { approved: false, error, description });
    };
    const upstreamError = request.query.error;
    if (typeof upstreamError === 'string')
      return deny(PASSED_ON.has(upstreamError) ? upstreamError : 'access_denied', 'the sign-in at the bank did not complete', `provider answered ${upstreamError.slice(0, 64)}`);

    const authz = pushed.request;
    let idToken: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(await this.#config(), new URL(request.url, ctx.urls.issuer), {
        pkceCodeVerifier: interaction.upstream.codeVerifier,
        expectedState: state,
        expectedNonce: interaction.upstream.nonce,
        idTokenExpected: true,
        ...(authz.maxAge !== undefined ? { maxAge: authz.maxAge } : {}),
      });
      idToken = (tokens.claims() ?? {}) as Record<string, unknown>;
    } catch (err) {
      request.log.warn({ event: 'upstream_login_failed', cause: (err as Error).message }, 'the identity provider login could not be completed');
      return deny('access_denied', "the bank's sign-in could not be verified", 'token exchange or ID token rejected');
    }
    const login: Authentication = mapUpstreamLogin(idToken, this.settings);
    if (authz.prompt?.includes('login') && login.authTime < (interaction.startedAt ?? 0) - CLOCK_SKEW_SECONDS)
      return deny('login_required', 'the bank did not sign the customer in again', 'auth_time before the interaction (prompt=login)');
    if (!meetsEssentialAcr(authz, login.acr)) {
      request.log.warn({ audit: 'acr_unmet', client_id: client.id, acr: login.acr[0] }, 'acr_unmet');
      return deny('access_denied', 'the requested authentication context could not be met', 'essential acr not reached');
    }
    try {
      await ctx.hooks.onLogin?.({ request: authz, client, sub: login.sub, claims: login.claims ?? {} });
    } catch (err) {
      if (err instanceof OAuthError) return deny(err.error, err.description, 'refused by the ecosystem pack');
      throw err;
    }
    const { upstream: _used, ...rest } = interaction;
    const signedIn: Interaction = { ...rest, ...login };
    await Promise.all([saveWithRef(ctx, signedIn), startSession(ctx, reply, login)]);
    request.log.info({ audit: 'upstream_login', client_id: client.id, acr: login.acr[0] }, 'upstream_login');
    return showInteraction(ctx, reply, signedIn, pushed);
  }
}
