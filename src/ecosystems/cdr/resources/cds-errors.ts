import type { FastifyReply } from 'fastify';
import { NO_STORE } from '../../../http/error-handler.js';
import { OAuthError } from '../../../oauth/errors.js';
import { TokenRejected } from '../../../tokens/guard.js';

const URN = 'urn:au-cds:error:cds-all:';

/** A refusal with its Consumer Data Standards error code (the `urn:au-cds:error:cds-all:` part after the prefix). */
export class CdsError extends OAuthError {
  constructor(
    status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(status >= 500 ? 'server_error' : 'invalid_request', detail, status, headers);
  }
}

export const headerMissing = (name: string) => new CdsError(400, 'Header/Missing', 'Missing Required Header', `${name} is required`);
export const headerInvalid = (name: string, why: string) => new CdsError(400, 'Header/Invalid', 'Invalid Header', `${name} ${why}`);

/** The CDS code, title and status of each gateway error (CDS "Error Codes" table). */
function cdsForm(err: OAuthError): { status: number; code: string; title: string } {
  if (err instanceof CdsError) return { status: err.status, code: err.code, title: err.title };
  if (err instanceof TokenRejected) {
    // The arrangement was revoked, or it ended: its tokens meet a revoked consent.
    if (err.reason === 'revoked') return { status: 403, code: 'Authorisation/RevokedConsent', title: 'Consent Is Revoked' };
    if (err.reason === 'insufficient_scope') return { status: 403, code: 'Authorisation/InvalidConsent', title: 'Consent Is Invalid' };
    if (err.status === 400) return { status: 400, code: 'Header/Invalid', title: 'Invalid Header' };
    return { status: 401, code: 'GeneralError/Expected', title: 'Unauthorised' };
  }
  switch (err.status) {
    case 400:
      return { status: 400, code: 'GeneralError/Expected', title: 'Invalid Request' };
    case 401:
      return { status: 401, code: 'GeneralError/Expected', title: 'Unauthorised' };
    case 403:
      return { status: 403, code: 'Authorisation/InvalidConsent', title: 'Consent Is Invalid' };
    case 404:
      return { status: 404, code: 'Resource/NotFound', title: 'Resource Not Found' };
    case 405:
      return { status: 405, code: 'GeneralError/Expected', title: 'Method Not Allowed' };
    case 406:
      return { status: 406, code: 'Header/Invalid', title: 'Not Acceptable' };
    case 413:
      return { status: 413, code: 'Field/Invalid', title: 'Request Too Large' };
    case 429:
      return { status: 429, code: 'GeneralError/Expected', title: 'Too Many Requests' };
    case 503:
      return { status: 503, code: 'Service/Unavailable', title: 'Service Unavailable' };
    default:
      return err.status >= 400 && err.status < 500
        ? { status: err.status, code: 'GeneralError/Expected', title: 'Expected Error Encountered' }
        : { status: err.status, code: 'GeneralError/Unexpected', title: 'Unexpected Error Encountered' };
  }
}

/** Answers a gateway error in the CDS envelope, keeping its headers (WWW-Authenticate, Retry-After, Allow). */
export function renderCdsError(reply: FastifyReply, err: OAuthError): FastifyReply {
  const { status, code, title } = cdsForm(err);
  const body = { errors: [{ code: URN + code, title, detail: err.description, meta: {} }] };
  return reply.code(status).headers(NO_STORE).headers(err.headers).type('application/json').send(body);
}
