import { ConfigError } from '../../../config/config-error.js';
import type { GatewayContext } from '../../../context.js';
import { DEFAULT_MAX_GRANT_SECONDS } from '../../../grants/grant-lifetime.js';
import type { Grant } from '../../../grants/grant.js';
import type { AuthorizationRequest } from '../../../oauth/authorization-request.js';
import { invalidRequest, OAuthError } from '../../../oauth/errors.js';
import type { ConsentDetails, EcosystemHooks, PushGuard } from '../../hooks.js';
import type { ConsentSettings } from '../settings.js';
import { consentsApi } from './api.js';
import { currentExpiry, statusAt, type ConsentState } from './consent.js';
import { Consents, ConsentStateConflict } from './consents.js';
import { needsAccountChoice, permissionLabel } from './permissions.js';

/** What a grant made from a Brazil consent carries (read by the resource front door). */
export interface BrazilGrantExtension {
  consentId: string;
  permissions: string[];
  accountIds?: string[];
}

const CONSENT_SCOPE = /^consent:(.+)$/;
/** Scopes of a data-transmitting institution (OFB security profile), listed in discovery. */
export const OFB_SCOPES = ['openid', 'accounts', 'credit-cards-accounts', 'consents', 'customers', 'invoice-financings', 'financings', 'loans', 'unarranged-accounts-overdraft', 'resources', 'payments'];
export const OFB_ACR_VALUES = ['urn:brasil:openbanking:loa2', 'urn:brasil:openbanking:loa3'];
const STANDARD_CLAIMS = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr'];

const consentIdOf = (request: AuthorizationRequest) => (request.extensions.brazil as { consentId?: string } | undefined)?.consentId;

/**
 * Data-sharing consents: the Consents API, the `consent:<id>` scope at PAR, the customer check at
 * login, the permissions and account choice on the consent page, and the grant that lives and dies
 * with the consent. Payment consents (scope `payments`) belong to the payments part.
 */
export function consentsPart(settings: ConsentSettings): EcosystemHooks {
  let ctx: GatewayContext;
  let consents: Consents;
  /**
   * The consent as read in the current step, by the request object the step's hooks share (a new one
   * per step): read once per step, in the round trip `prefetch` joins. A transition made here drops it.
   */
  const readInStep = new WeakMap<AuthorizationRequest, Promise<ConsentState | undefined>>();
  /** What PAR decided from a copy of the consent, to be written behind (EcosystemHooks.pushGuards). */
  const guardsInStep = new WeakMap<AuthorizationRequest, PushGuard[]>();
  const notAwaiting = () => invalidRequest('the consent is unknown, belongs to another client or is not awaiting authorisation');

  function readConsent(request: AuthorizationRequest, id: string, orCopy = false): Promise<ConsentState | undefined> {
    let read = readInStep.get(request);
    if (!read) {
      read = orCopy ? consents.readOrCopy(id) : consents.read(id);
      read.catch(() => undefined); // a prefetch nobody awaits must not fail the process; awaiting still throws
      readInStep.set(request, read);
    }
    return read;
  }

  /** The request's consent, when it is still awaiting authorisation by this client (`orCopy`: possibly from a copy, see Consents.readOrCopy). */
  async function awaitingConsent(request: AuthorizationRequest, orCopy = false): Promise<ConsentState | undefined> {
    const id = consentIdOf(request);
    if (id === undefined) return undefined;
    const state = await readConsent(request, id, orCopy);
    if (!state || state.record.clientId !== request.clientId) return undefined;
    return statusAt(state, Math.floor(Date.now() / 1000)).status === 'AWAITING_AUTHORISATION' ? state : undefined;
  }

  return {
    start(context) {
      ctx = context;
      const { lifetimes, refreshTokenRotation } = ctx.profile;
      if (lifetimes.accessToken < 300 || lifetimes.accessToken > 900)
        throw new ConfigError('policy.lifetimes.accessToken', `Open Finance Brasil access tokens live 300 to 900 seconds, not ${lifetimes.accessToken}`);
      if (refreshTokenRotation.enabled) throw new ConfigError('policy.refreshTokenRotation.enabled', 'Open Finance Brasil refresh tokens are never rotated');
      consents = new Consents(
        {
          store: ctx.store,
          grants: ctx.grants,
          urnPrefix: settings.bankUrnPrefix,
          retentionSeconds: settings.consents.retentionSeconds,
          maxGrantSeconds: lifetimes.grant ?? DEFAULT_MAX_GRANT_SECONDS,
          ...(ctx.metrics ? { registry: ctx.metrics.registry } : {}),
        },
        undefined,
      );
    },

    async routes({ mtls }) {
      consents.useLogger(mtls.log);
      await consentsApi(mtls, ctx, consents, settings);
    },

    isDynamicScope: (scope) => CONSENT_SCOPE.test(scope),

    prefetch({ request }) {
      const id = consentIdOf(request);
      if (id !== undefined) void readConsent(request, id);
    },

    async validateAuthorizationRequest({ params, request, client }) {
      if (params.id_token_hint !== undefined) throw invalidRequest('id_token_hint is not accepted');
      if (!client.grantTypes.has('refresh_token')) throw new OAuthError('unauthorized_client', 'Open Finance Brasil clients must be registered for refresh tokens');
      const scopes = request.scope.split(' ');
      const consentScopes = scopes.filter((s) => CONSENT_SCOPE.test(s));
      if (consentScopes.length > 1) throw new OAuthError('invalid_scope', 'exactly one consent:<consentId> scope is allowed');
      // A payment consent is the payments part's to check; without payment settings none is served.
      if (scopes.includes('payments')) {
        if (!settings.payments) throw new OAuthError('invalid_scope', 'payments are not served by this institution');
        return;
      }
      if (consentScopes.length === 0) throw new OAuthError('invalid_scope', 'a consent:<consentId> scope is required');
      const consentId = CONSENT_SCOPE.exec(consentScopes[0])![1];
      request.extensions.brazil = { consentId };
      // From this replica's copy when it has one (the consent was created or read here): the pushed
      // request is written only where the consent is still awaiting authorisation (pushGuards), so
      // a copy decides as a read would, and no transition falls between the read and the write.
      if (!(await awaitingConsent(request, true))) throw notAwaiting();
      guardsInStep.set(request, [{ steps: consents.stillAwaiting(consentId), refusal: notAwaiting }]);
    },

    pushGuards: ({ request }) => guardsInStep.get(request),

    async onLogin({ request, claims }) {
      const id = consentIdOf(request);
      if (id === undefined) return;
      const state = await awaitingConsent(request);
      if (!state) throw new OAuthError('access_denied', 'the consent is no longer awaiting authorisation');
      const { loggedUser, businessEntity } = state.record;
      // Directory claims may be numbers (unquoted YAML): compared as text.
      const cnpjs = (Array.isArray(claims.cnpj) ? claims.cnpj : [claims.cnpj]).map(String);
      if (String(claims.cpf) !== loggedUser.identification || (businessEntity && !cnpjs.includes(businessEntity.identification))) {
        readInStep.delete(request);
        await consents.end(state, 'ASPSP', 'INTERNAL_SECURITY_REASON');
        throw new OAuthError('access_denied', 'the signed-in customer is not the one the consent was made for');
      }
    },

    async consentDetails({ request, sub }) {
      // Asked again by the approval (for the accounts offered); a page shown was prefetched from the store.
      const state = await awaitingConsent(request, true);
      if (!state) return undefined;
      const details: ConsentDetails = { items: state.record.permissions.map((p) => ({ label: permissionLabel(p) })) };
      const accounts = settings.consents.accounts[sub] ?? [];
      if (accounts.length && needsAccountChoice(state.record.permissions)) details.accounts = accounts;
      if (state.record.expiresAt !== undefined) details.expiresAt = state.record.expiresAt;
      return details;
    },

    async onAuthorizationDenied({ request }) {
      // Read again: an approval refused at its commit found the consent changed since this step's read.
      readInStep.delete(request);
      const state = await awaitingConsent(request);
      if (state) await consents.end(state, 'USER', 'CUSTOMER_MANUALLY_REJECTED');
    },

    async onGrantCreated({ grant, request, decision }) {
      const id = consentIdOf(request);
      if (id === undefined) return;
      const state = await awaitingConsent(request, true);
      if (!state) throw new OAuthError('access_denied', 'the consent is no longer awaiting authorisation');
      const accountIds = decision?.accountIds ?? [];
      const extension: BrazilGrantExtension = { consentId: id, permissions: state.record.permissions, ...(accountIds.length ? { accountIds } : {}) };
      grant.extensions.brazil = extension;
      const expiresAt = currentExpiry(state);
      if (expiresAt !== undefined) grant.expiresAt = expiresAt;
      // The OFB security profile wants acr in every ID token: what this customer's login reaches.
      grant.acr ??= ctx.users.acrReached(grant.sub, ctx.profile)[0] ?? OFB_ACR_VALUES[0];
      // The transition goes with the code and the grant; taken or ended meanwhile, the approval is refused.
      return async () => {
        readInStep.delete(request);
        try {
          await consents.authorise(state, { grantId: grant.id, accountIds });
        } catch (err) {
          if (err instanceof ConsentStateConflict) throw new OAuthError('access_denied', err.message);
          throw err;
        }
      };
    },

    // A consent's refresh tokens (payment consents' too) live as long as it does.
    refreshTokenLifetime: (grant: Grant, profileDefault: number) => (grant.extensions.brazil || grant.extensions.brazilPayment ? 0 : profileDefault),

    accessTokenClaims: (grant: Grant) => {
      const extension = grant.extensions.brazil as BrazilGrantExtension | undefined;
      return extension ? { consent_id: extension.consentId } : {};
    },

    introspectionFields: (grant) => {
      const extension = grant?.extensions.brazil as BrazilGrantExtension | undefined;
      return extension ? { consent_id: extension.consentId } : {};
    },

    discoveryFields: () => {
      const scopes = new Set(OFB_SCOPES);
      for (const client of ctx.clients.all()) for (const s of client.scopes) scopes.add(s);
      return {
        scopes_supported: [...scopes],
        claims_supported: [...new Set([...STANDARD_CLAIMS, 'cpf', 'cnpj', ...ctx.users.claimNames()])],
        acr_values_supported: [...new Set([...OFB_ACR_VALUES, ...ctx.users.acrValues(ctx.profile)])],
      };
    },
  };
}
