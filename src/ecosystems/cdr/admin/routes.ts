import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NO_STORE } from '../../../http/error-handler.js';
import { StoreUnavailableError } from '../../../store/store.js';
import { CdsError, cdsErrors, negotiateVersion, sendCdsError } from './cds-errors.js';
import type { AuthorisationCounts } from './authorisation-counts.js';
import { metricsPayload, type Period } from './metrics-payload.js';
import type { RegisterJwtVerifier } from './register-jwt.js';
import type { ServiceLedger } from './service-ledger.js';

export const ADMIN_PATHS = { metrics: '/cds-au/v1/admin/metrics', metadata: '/cds-au/v1/admin/register/metadata' } as const;
const PERIODS = new Set<Period>(['CURRENT', 'HISTORIC', 'ALL']);
const MAX_BODY_BYTES = 4096;

export interface AdminDeps {
  verifier: RegisterJwtVerifier;
  ledger: ServiceLedger;
  /** The authorisation counts, from the arrangements in the store. */
  authorisations: () => Promise<AuthorisationCounts>;
  /** The URL the Register calls these endpoints at (the mTLS listener's). */
  base: string;
  refresh: () => Promise<void>;
  count: (endpoint: 'metrics' | 'metadata', outcome: string) => void;
}

/**
 * The Data Holder admin endpoints the CDR Register calls (CDS "Admin APIs"), on the mTLS listener:
 * Get Metrics (v5) and Metadata Update (v1, a status refresh). Authenticated by the Register's
 * self-signed JWT; every refusal in the CDS error envelope.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(cdsErrors.invalidField('the body is not valid JSON'), undefined);
      }
    });
    scope.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      const cds = asCdsError(err, request);
      deps.count(endpointOf(request), cds.code.split(':').pop() ?? 'error');
      request.log.warn({ audit: 'cdr_admin_refused', route: request.routeOptions.url, status: cds.status, reason: cds.detail }, 'cdr_admin_refused');
      return sendCdsError(reply, cds);
    });

    const handle = (endpoint: 'metrics' | 'metadata', served: number[], work: (request: FastifyRequest, reply: FastifyReply, version: number) => Promise<FastifyReply>) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        await deps.verifier.verify(request.headers.authorization, `${deps.base}${ADMIN_PATHS[endpoint]}`);
        request.clientId = 'cdr-register';
        const version = negotiateVersion(request.headers, served);
        const answered = await work(request, reply.header('x-v', String(version)).headers(NO_STORE), version);
        deps.count(endpoint, 'success');
        return answered;
      };

    scope.get(
      ADMIN_PATHS.metrics,
      handle('metrics', [5], async (request, reply) => {
        const { period = 'ALL' } = request.query as { period?: string };
        if (typeof period !== 'string' || !PERIODS.has(period as Period)) throw cdsErrors.invalidField('period must be CURRENT, HISTORIC or ALL');
        request.log.info({ audit: 'cdr_admin_metrics_read', period }, 'cdr_admin_metrics_read');
        const authorisations = await deps.authorisations();
        return reply.code(200).type('application/json').send(metricsPayload(deps.ledger, authorisations, period as Period, `${deps.base}${ADMIN_PATHS.metrics}`));
      }),
    );
    scope.post(
      ADMIN_PATHS.metadata,
      handle('metadata', [1], async (request, reply) => {
        const body = request.body as { data?: { action?: unknown } } | undefined;
        if (typeof body !== 'object' || body === null || typeof body.data !== 'object' || body.data === null) throw cdsErrors.missingField('data');
        if (body.data.action === undefined) throw cdsErrors.missingField('data.action');
        if (body.data.action !== 'REFRESH') throw cdsErrors.invalidField('data.action must be REFRESH');
        request.log.info({ audit: 'cdr_register_metadata_refresh' }, 'cdr_register_metadata_refresh');
        // Answered at once; the statuses are fetched in the background ("as soon as practicable").
        deps.refresh().catch((err) => request.log.error({ event: 'cdr_register_poll_failed', cause: (err as Error).message }, 'the Register status refresh failed'));
        return reply.code(200).type('application/json').send({});
      }),
    );
  });
}

function endpointOf(request: FastifyRequest): 'metrics' | 'metadata' {
  return request.routeOptions.url === ADMIN_PATHS.metrics ? 'metrics' : 'metadata';
}

function asCdsError(err: Error & { statusCode?: number; code?: string }, request: FastifyRequest): CdsError {
  if (err instanceof CdsError) return err;
  if (err instanceof StoreUnavailableError) return cdsErrors.unavailable('the service is temporarily unavailable');
  if (err.statusCode === 413) return new CdsError(413, 'urn:au-cds:error:cds-all:Field/Invalid', 'Invalid Field', 'the body is too large');
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return cdsErrors.invalidField('send the body as application/json');
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return cdsErrors.invalidField('malformed request');
  request.log.error({ err }, 'unhandled error');
  return cdsErrors.unexpected();
}
