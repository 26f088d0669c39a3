import type { FastifyReply } from 'fastify';
import { NO_STORE } from '../../../http/error-handler.js';

/** A refusal on a CDS endpoint, answered in the CDS error envelope (`{"errors":[{code,title,detail,meta}]}`). */
export class CdsError extends Error {
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

const CDS = 'urn:au-cds:error:cds-all:';
export const cdsErrors = {
  missingHeader: (name: string) => new CdsError(400, `${CDS}Header/Missing`, 'Missing Required Header', `${name} is missing`),
  invalidVersion: (detail: string) => new CdsError(400, `${CDS}Header/InvalidVersion`, 'Invalid Version', detail),
  unsupportedVersion: (detail: string) => new CdsError(406, `${CDS}Header/UnsupportedVersion`, 'Unsupported Version', detail),
  missingField: (name: string) => new CdsError(400, `${CDS}Field/Missing`, 'Missing Required Field', `${name} is missing`),
  invalidField: (detail: string) => new CdsError(400, `${CDS}Field/Invalid`, 'Invalid Field', detail),
  unauthorised: (detail: string) =>
    new CdsError(401, `${CDS}GeneralError/Expected`, 'Unauthorised', detail, { 'www-authenticate': `Bearer error="invalid_token"` }),
  unavailable: (detail: string) => new CdsError(503, `${CDS}Service/Unavailable`, 'Service Unavailable', detail, { 'retry-after': '5' }),
  unexpected: () => new CdsError(500, `${CDS}GeneralError/Unexpected`, 'Unexpected Error Encountered', 'the request could not be completed'),
};

export function sendCdsError(reply: FastifyReply, err: CdsError): FastifyReply {
  return reply
    .code(err.status)
    .headers(NO_STORE)
    .headers(err.headers)
    .type('application/json')
    .send({ errors: [{ code: err.code, title: err.title, detail: err.detail, meta: {} }] });
}

const POSITIVE_INTEGER = /^[1-9][0-9]{0,5}$/;

/**
 * CDS version negotiation: the highest version this endpoint serves between `x-min-v` and `x-v`
 * (x-min-v at or above x-v counts as absent); 400 when x-v is missing or not a positive integer,
 * 406 when none is served.
 */
export function negotiateVersion(headers: Record<string, string | string[] | undefined>, served: readonly number[]): number {
  const xv = headers['x-v'];
  if (xv === undefined || xv === '') throw cdsErrors.missingHeader('x-v');
  if (typeof xv !== 'string' || !POSITIVE_INTEGER.test(xv)) throw cdsErrors.invalidVersion('x-v must be a positive integer');
  const max = Number(xv);
  const xminv = headers['x-min-v'];
  let min = max;
  if (xminv !== undefined) {
    if (typeof xminv !== 'string' || !POSITIVE_INTEGER.test(xminv)) throw cdsErrors.invalidVersion('x-min-v must be a positive integer');
    if (Number(xminv) < max) min = Number(xminv);
  }
  const chosen = served.filter((v) => v >= min && v <= max).sort((a, b) => b - a)[0];
  if (chosen === undefined) throw cdsErrors.unsupportedVersion(`versions served: ${served.join(', ')}`);
  return chosen;
}
