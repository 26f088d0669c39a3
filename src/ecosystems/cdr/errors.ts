import type { FastifyReply } from 'fastify';
import { NO_STORE } from '../../http/error-handler.js';

/** A CDS error response: `{"errors":[{code, title, detail, meta}]}`. */
export function sendCdsError(reply: FastifyReply, status: number, code: string, title: string, detail: string): FastifyReply {
  return reply.code(status).headers(NO_STORE).type('application/json').send({ errors: [{ code, title, detail, meta: {} }] });
}

export const INVALID_ARRANGEMENT = 'urn:au-cds:error:cds-all:Authorisation/InvalidArrangement';
