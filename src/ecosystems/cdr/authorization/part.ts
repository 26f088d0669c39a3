import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../../../config/config-error.js';
import type { GatewayContext } from '../../../context.js';
import type { Grant } from '../../../grants/grant.js';
import { OAuthError, invalidRequest } from '../../../oauth/errors.js';
import type { EcosystemHooks } from '../../hooks.js';
import { Arrangements, type Arrangement, type CdrGrantExtension, type CustomerType } from '../arrangements/arrangements.js';
import { sharingRequest, type SharingRequest } from '../arrangements/sharing-request.js';
import { arrangementRevocationRoute, REVOCATION_PATH } from '../revocation/inbound-route.js';
import { RevocationNotices } from '../revocation/notices.js';
import { cdrMetrics, type CdrMetrics } from '../metrics.js';
import { arrangementsCommand } from '../revocation/cli.js';
import { registerArrangementServices, withdrawArrangement } from '../revocation/withdraw.js';
import { authorizationSettings } from '../settings.js';
import { CDR_SCOPES, CLIENT_CREDENTIALS_ONLY_SCOPES } from '../scopes.js';
import { REPORTING_SECONDS } from '../arrangements/arrangements.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The CDS's customer types, from the customer's claim (CDS Get Customer's `customerUType`): `organisation` is non-individual, anything else individual. */
function customerTypeOf(claim: unknown): CustomerType {
  return claim === 'organisation' || claim === 'organization' ? 'nonIndividual' : 'individual';
}

export function cdrExtension(grant: Grant | undefined): CdrGrantExtension | undefined {
  return grant?.extensions.cdr as CdrGrantExtension | undefined;
}

/**
 * The data holder's authorization side: arrangements from `sharing_duration` and `cdr_arrangement_id`,
 * their ids in token and introspection responses, refresh tokens that end with the sharing, the
 * CDR Arrangement Revocation endpoint, and notices to recipients when a customer withdraws.
 */
export function authorizationPart(raw: Record<string, unknown> | undefined): EcosystemHooks {
  const settings = authorizationSettings(raw);
  let ctx: GatewayContext;
  let arrangements: Arrangements;
  let notices: RevocationNotices;
  let metrics: CdrMetrics | undefined;
  let log: FastifyBaseLogger | undefined;

  return {
    start(context) {
      ctx = context;
      if (ctx.profile.refreshTokenRotation.enabled)
        throw new ConfigError('policy.refreshTokenRotation.enabled', 'the CDR never rotates refresh tokens');
      arrangements = new Arrangements(ctx.store, ctx.grants, settings.arrangements.maxTracked);
      metrics = ctx.metrics ? cdrMetrics(ctx.metrics.registry) : undefined;
      notices = new RevocationNotices(ctx, settings, metrics);
      registerArrangementServices(ctx, { arrangements, notices, metrics });
    },

    validateAuthorizationRequest: async ({ request, client }) => {
      const refused = request.scope.split(' ').filter((s) => CLIENT_CREDENTIALS_ONLY_SCOPES.has(s));
      if (refused.length) throw new OAuthError('invalid_scope', `${refused.join(' ')} may only be used with client_credentials`);
      const sharing = sharingRequest(request, settings.arrangements.maxSharingDurationSeconds);
      if (sharing.amends !== undefined) {
        const existing = await arrangements.current(sharing.amends);
        if (!existing || existing.clientId !== client.id) throw invalidRequest('claims.cdr_arrangement_id is not a current arrangement of this client');
      }
      request.extensions.cdr = sharing;
    },

    // The consent page says how long the arrangement lasts: the sharing duration asked for, or once-off.
    consentDetails({ request }) {
      const sharing = request.extensions.cdr as SharingRequest | undefined;
      if (!sharing) return undefined;
      const seconds = sharing.sharingDurationSeconds;
      return seconds > 0 ? { items: [], expiresAt: nowSeconds() + seconds } : { items: [], onceOff: true };
    },

    onGrantCreated: async ({ grant, request, client }) => {
      const sharing = request.extensions.cdr as SharingRequest | undefined;
      if (!sharing) return;
      const now = nowSeconds();
      let previous: Arrangement | undefined;
      if (sharing.amends !== undefined) {
        previous = await arrangements.current(sharing.amends);
        // Checked again: the arrangement may have ended since PAR, and only now is the customer known.
        if (!previous || previous.clientId !== client.id) throw invalidRequest('claims.cdr_arrangement_id is not a current arrangement of this client');
        if (previous.sub !== grant.sub) {
          const refused = new OAuthError('access_denied', 'the arrangement to amend belongs to another customer');
          refused.audit = 'arrangement_amendment_refused';
          throw refused;
        }
      }
      const seconds = sharing.sharingDurationSeconds;
      if (seconds > 0) grant.expiresAt = now + seconds;
      const arrangement: Arrangement = {
        id: previous?.id ?? Arrangements.newId(),
        clientId: client.id,
        softwareId: client.metadata.software_id ?? client.id,
        sub: grant.sub,
        customerType: customerTypeOf(grant.userClaims?.[settings.arrangements.customerTypeClaim] ?? ctx.users.bySub(grant.sub)?.claims[settings.arrangements.customerTypeClaim]),
        grantId: grant.id,
        createdAt: previous?.createdAt ?? now,
        // Once-off sharing lasts as long as its code and the one access token it brings.
        expiresAt: seconds > 0 ? now + seconds : now + ctx.profile.lifetimes.code + ctx.profile.lifetimes.accessToken,
        sharingDurationSeconds: seconds,
        ...(previous ? { amendedAt: [...(previous.amendedAt ?? []).filter((at) => at > now - REPORTING_SECONDS), now] } : {}),
      };
      grant.extensions.cdr = { arrangementId: arrangement.id } satisfies CdrGrantExtension;
      const save = async () => {
        if ((await arrangements.save(arrangement)) === 'untracked') {
          metrics?.arrangements.inc({ event: 'untracked' });
          log?.error({ audit: 'arrangement_untracked', client_id: client.id, maxTracked: settings.arrangements.maxTracked }, 'ecosystem.arrangements.maxTracked is reached: the arrangement works but is not counted for the Register nor ended with its software product');
        }
      };
      // A new arrangement decides nothing more: it is written with the code and the grant.
      if (!previous)
        return async () => {
          await save();
          metrics?.arrangements.inc({ event: 'created' });
        };
      await save();
      // A revocation may have ended the arrangement after it was read above: it stays ended, with this grant too.
      const endedBy = await arrangements.endedBy(previous.id);
      if (endedBy) {
        await arrangements.save({ ...arrangement, endedAt: now, endedBy });
        await ctx.grants.end(grant.id);
        throw invalidRequest('claims.cdr_arrangement_id is not a current arrangement of this client');
      }
      // The amendment has succeeded: the tokens of the arrangement's earlier grant are refused from now on.
      if (previous.grantId !== grant.id) await ctx.grants.end(previous.grantId);
      metrics?.arrangements.inc({ event: 'amended' });
    },

    // A customer's data is shared through an arrangement only: client_credentials carries the recipient's own scopes.
    clientCredentialsScopes({ scopes, requested }) {
      const customers = scopes.filter((s) => !CLIENT_CREDENTIALS_ONLY_SCOPES.has(s));
      if (requested && customers.length) throw new OAuthError('invalid_scope', `${customers.join(' ')} needs a customer's authorization, not client_credentials`);
      return scopes.filter((s) => CLIENT_CREDENTIALS_ONLY_SCOPES.has(s));
    },

    refreshTokenLifetime(grant, profileDefault) {
      if (!cdrExtension(grant)) return profileDefault;
      // Exactly until the end of the sharing duration; none for once-off sharing.
      if (grant.expiresAt === undefined) return 'none';
      return Math.max(1, grant.expiresAt - nowSeconds());
    },

    // Grant management withdrew the grant: the arrangement it serves now ends, and its recipient is told.
    async onGrantWithdrawn({ grant, initiator }) {
      const cdr = cdrExtension(grant);
      if (!cdr) return;
      const arrangement = await arrangements.current(cdr.arrangementId);
      // An amended arrangement's earlier grant ended with the amendment; the arrangement lives on.
      if (!arrangement || arrangement.grantId !== grant.id) return;
      await withdrawArrangement(ctx, arrangement.id, log, initiator);
    },

    tokenResponseFields(grant) {
      const cdr = cdrExtension(grant);
      return cdr ? { cdr_arrangement_id: cdr.arrangementId } : {};
    },

    introspectionFields(grant) {
      const cdr = cdrExtension(grant);
      return cdr ? { cdr_arrangement_id: cdr.arrangementId } : {};
    },

    discoveryFields() {
      const claims = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'sharing_duration', 'cdr_arrangement_id', ...ctx.users.claimNames()];
      return {
        cdr_arrangement_revocation_endpoint: ctx.urls.mtlsBase + REVOCATION_PATH,
        claims_parameter_supported: true,
        claims_supported: [...new Set(claims)],
        acr_values_supported: ['urn:cds.au:cdr:2', 'urn:cds.au:cdr:3'],
        scopes_supported: CDR_SCOPES,
      };
    },

    routes({ mtls }) {
      log = mtls.log as FastifyBaseLogger;
      arrangementRevocationRoute(mtls, ctx, arrangements, metrics);
      notices.start(mtls.log as FastifyBaseLogger);
    },

    stop() {
      return notices?.stop();
    },

    cliCommands() {
      return { arrangements: arrangementsCommand(ctx, () => notices) };
    },
  };
}
