import type { FastifyRequest } from 'fastify';
import { ClientAuthError } from '../clients/authenticate.js';
import { OAuthError } from '../oauth/errors.js';
import { RequestObjectError } from '../oauth/request-object/errors.js';
import { TokenRejected } from '../tokens/guard.js';
import { DpopRejected } from '../dpop/errors.js';
import type { Metrics } from './metrics.js';

/** Counts refusals by reason and writes named audit events for the security-relevant ones. */
export function securityEventRecorder(metrics: Metrics | undefined) {
  return (err: OAuthError, request: FastifyRequest): void => {
    if (err instanceof ClientAuthError) metrics?.clientAuthFailures.inc({ method: err.method ?? 'unknown', reason: err.reason });
    else if (err instanceof TokenRejected) metrics?.tokenRejections.inc({ reason: err.reason });
    else if (err instanceof DpopRejected) metrics?.dpopProofsRejected.inc({ site: err.site, reason: err.reason });
    if (err.audit === 'code_reuse') metrics?.authorizationCodeReuse.inc();
    if (err.audit) {
      const reason = err instanceof ClientAuthError || err instanceof TokenRejected || err instanceof RequestObjectError || err instanceof DpopRejected ? err.reason : err.error;
      const detail = err instanceof ClientAuthError || err instanceof RequestObjectError ? err.detail : undefined;
      request.log.warn({ audit: err.audit, reason, clientId: request.clientId, route: request.routeOptions.url, ...(detail ? { detail } : {}) }, err.audit);
    }
  };
}
