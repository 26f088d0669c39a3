import type { FastifyError, FastifyInstance } from 'fastify';
import { WorkRefused } from '../admission/work-limiter.js';
import { classifyFailure } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';
import { errorPage, sendPage } from './pages.js';

/**
 * A browser on the authorization endpoint or the login and consent pages gets a page when something
 * fails (a store outage, a malformed form), with the same status and error code an API client would
 * get as JSON, and no redirect: the failure may be ours, not the client's. The page says it in the
 * customer's words; the code and description sit in its technical details.
 */
export function installPageErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const failure = err instanceof OAuthError ? err : classifyFailure(err, request);
    reply.headers(failure.headers);
    const options = err instanceof WorkRefused ? { busySeconds: err.retryAfterSeconds } : {};
    return sendPage(reply, failure.status, 'Request refused', errorPage(failure.error, failure.description, options));
  });
}
