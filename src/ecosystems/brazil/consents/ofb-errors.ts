import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { classifyFailure, NO_STORE } from '../../../http/error-handler.js';
import { OAuthError } from '../../../oauth/errors.js';
import { TokenRejected } from '../../../tokens/guard.js';
import type { Metrics } from '../../../observability/metrics.js';
import { ofbDateTime } from './consent.js';
import { OFB_ERROR_TITLES } from '../resources/ofb-errors.js';

/** A refusal of the OFB APIs, with the specification's code for it. */
export class OfbError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code}: ${detail}`);
  }
}

export function ofbError(status: number, detail: string, code?: string, headers: Record<string, string> = {}): OfbError {
  const [defaultCode, title] = OFB_ERROR_TITLES[status] ?? OFB_ERROR_TITLES[400];
  return new OfbError(status, code ?? defaultCode, title, detail, headers);
}

/** `{"errors":[{code,title,detail}],"meta":{...}}`, no-store. */
export function sendOfbError(reply: FastifyReply, err: OfbError): FastifyReply {
  return reply
    .code(err.status)
    .headers(NO_STORE)
    .headers(err.headers)
    .type('application/json; charset=utf-8')
    .send({ errors: [{ code: err.code, title: err.title, detail: err.detail }], meta: { totalRecords: 1, totalPages: 1, requestDateTime: ofbDateTime(Math.floor(Date.now() / 1000)) } });
}

/** Every failure inside the scope leaves in the OFB envelope, keeping its status and headers (WWW-Authenticate). */
export function useOfbErrors(scope: FastifyInstance, metrics: Metrics | undefined): void {
  scope.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof OfbError) return sendOfbError(reply, err);
    if (err instanceof TokenRejected) {
      metrics?.tokenRejections.inc({ reason: err.reason });
      if (err.audit) request.log.warn({ audit: err.audit, reason: err.reason, clientId: request.clientId, route: request.routeOptions.url }, err.audit);
    }
    if (err.statusCode === 415) return sendOfbError(reply, ofbError(415, 'send application/json'));
    const failure = err instanceof OAuthError ? err : classifyFailure(err, request);
    return sendOfbError(reply, ofbError(failure.status, failure.description, undefined, failure.headers));
  });
  scope.setNotFoundHandler((request, reply) => sendOfbError(reply, ofbError(404, `no endpoint ${request.method} ${request.url.split('?')[0]}`)));
}
