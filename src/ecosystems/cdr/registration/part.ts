import { Counter } from 'prom-client';
import { createLocalJWKSet, decodeJwt, type JWTVerifyGetKey } from 'jose';
import { remoteClientKeys } from '../../../clients/remote-keys.js';
import { addressBlocks } from '../../../config/address-blocks.js';
import type { GatewayContext } from '../../../context.js';
import { outboundFetch } from '../../../http/outbound-fetch.js';
import { readJwks } from '../../../registration/directories.js';
import type { EcosystemHooks } from '../../hooks.js';
import { adminRoutes } from '../admin/routes.js';
import { authorisationCounts } from '../admin/authorisation-counts.js';
import { arrangementServices } from '../revocation/withdraw.js';
import { RegisterJwtVerifier } from '../admin/register-jwt.js';
import { ServiceLedger } from '../admin/service-ledger.js';
import { StatusGate } from '../register/gate.js';
import { RegisterStatusPoller } from '../register/poller.js';
import { registerSettings } from '../register/settings.js';
import { authorizeManagement } from './management.js';
import { mapCdrStatement } from './software-statement.js';

/** A Register JWKS is a few keys; a status list a few thousand entries. */
const MAX_JWKS_BYTES = 64 * 1024;
const MAX_STATUS_BYTES = 4 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
/** Claims of a statement's JWT envelope, never copied into the registration response. */
const ENVELOPE_CLAIMS = new Set(['iss', 'sub', 'aud', 'iat', 'exp', 'nbf', 'jti']);

/**
 * The CDR pack's registration part: Dynamic Client Registration with the Register's software
 * statements, management by a cdr:registration token, the Register's status gating (polled, shared
 * through the store) and the admin endpoints the Register calls. Settings: `ecosystem.register`; none of this
 * without it.
 */
export function registrationPart(settings: Record<string, unknown> | undefined): EcosystemHooks {
  const register = registerSettings(settings);
  // Without a Register (a sandbox): no registration by its statements, no status gating, no admin endpoints.
  if (register === undefined) return {};
  const allowedPrivate = addressBlocks(register.allowPrivateAddresses, 'ecosystem.register.allowPrivateAddresses');
  const statusFetch = outboundFetch({ maxBytes: MAX_STATUS_BYTES, timeoutMs: FETCH_TIMEOUT_MS, allowedPrivate });
  const jwksFetch = outboundFetch({ maxBytes: MAX_JWKS_BYTES, timeoutMs: FETCH_TIMEOUT_MS, allowedPrivate });
  let ctx: GatewayContext | undefined;
  let registerKeys: JWTVerifyGetKey | undefined;
  const ledger = new ServiceLedger();
  let counters: ReturnType<typeof makeCounters> | undefined;
  const gate = new StatusGate(
    () => ctx,
    () => counters?.refusals.inc(),
    () => counters?.removals.inc(),
  );
  const poller = new RegisterStatusPoller({
    settings: register,
    fetch: statusFetch,
    store: () => ctx!.store,
    onStatuses: (statuses, polled) => gate.apply(statuses, polled),
    onPoll: (list, outcome) => counters?.polls.inc({ list, outcome }),
  });

  return {
    registrationSettings: () => ({
      directories: [
        { issuer: register.issuer, ...(register.jwksFile ? { jwksFile: register.jwksFile } : { jwksUri: register.jwksUri! }), algorithms: ['PS256'], at: 'ecosystem.register' },
      ],
    }),
    softwareStatement: ({ claims, directory, requested }) => {
      if (directory !== register.issuer) return undefined;
      return mapCdrStatement({ claims, requested }, (softwareId, legalEntityId) => gate.standing(poller.statuses, softwareId, legalEntityId));
    },
    oneRegistrationPerSoftwareId: () => true,
    registrationResponseFields: (record) => {
      // The statement's metadata as top-level fields, beside what was registered (CDS DCR response).
      if (!record.registration.softwareStatement) return {};
      const extra: Record<string, unknown> = {};
      try {
        for (const [name, value] of Object.entries(decodeJwt(record.registration.softwareStatement)))
          if (!ENVELOPE_CLAIMS.has(name) && !(name in record.metadata) && name !== 'scope') extra[name] = value;
      } catch {
        return {};
      }
      return extra;
    },
    authorizeRegistrationManagement: ({ clientId, request }) => authorizeManagement(ctx!, clientId, request),
    clientRefusal: (clientId) => gate.refusal(clientId),
    observeRequest: ({ route, request, status, seconds }) => ledger.record(route, request, status, seconds),
    async start(context) {
      ctx = context;
      counters = context.metrics ? makeCounters(context.metrics.registry) : undefined;
      registerKeys = register.jwksFile
        ? createLocalJWKSet(await readJwks(register.jwksFile, 'ecosystem.register.jwksFile'))
        : remoteClientKeys(register.jwksUri!, jwksFetch);
      // The shared statuses, if the store answers now; polling reads them again once it starts.
      await poller.load().catch(() => undefined);
    },
    async routes({ mtls }) {
      const context = ctx!;
      gate.log = mtls.log;
      const base = (register.adminBaseUri ?? context.urls.mtlsBase).replace(/\/$/, '');
      const verifier = new RegisterJwtVerifier({
        issuer: register.issuer,
        keys: registerKeys!,
        audiences: (endpointUrl) => [...new Set([base, `${base}/`, context.urls.mtlsBase, endpointUrl])],
        store: context.store,
      });
      await adminRoutes(mtls, {
        verifier,
        ledger,
        authorisations: () => authorisationCounts(arrangementServices(context)!.arrangements, Date.now(), async (clientId) => (await context.clients.get(clientId)) !== undefined),
        base: context.urls.mtlsBase,
        refresh: () => poller.refreshNow(),
        count: (endpoint, outcome) => counters?.admin.inc({ endpoint, outcome }),
      });
      poller.begin(mtls.log);
    },
    stop: () => poller.stop(),
  };
}

function makeCounters(registry: import('prom-client').Registry) {
  return {
    polls: new Counter({
      name: 'fapi_gateway_cdr_register_polls_total',
      help: 'CDR Register status list fetches, by list (softwareProducts, dataRecipients) and outcome (changed, unchanged, failed).',
      labelNames: ['list', 'outcome'] as const,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'fapi_gateway_cdr_status_refusals_total',
      help: 'Requests refused because the CDR Register does not hold the software product or its recipient ACTIVE.',
      registers: [registry],
    }),
    removals: new Counter({
      name: 'fapi_gateway_cdr_register_removals_total',
      help: 'Registrations removed because the CDR Register removed their software product.',
      registers: [registry],
    }),
    admin: new Counter({
      name: 'fapi_gateway_cdr_admin_requests_total',
      help: 'Calls of the CDS admin endpoints by the CDR Register, by endpoint (metrics, metadata) and outcome (success or the CDS error).',
      labelNames: ['endpoint', 'outcome'] as const,
      registers: [registry],
    }),
  };
}
