import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidRequest } from '../oauth/errors.js';

export const INTERACTION_ID = 'x-fapi-interaction-id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// RFC 7231 §7.1.1.1 IMF-fixdate, e.g. "Sun, 10 Sep 2017 19:43:31 GMT".
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The request id of every request: the client's x-fapi-interaction-id when it is a UUID, a new one otherwise. */
export function interactionId(req: IncomingMessage): string {
  const sent = req.headers[INTERACTION_ID];
  return typeof sent === 'string' && UUID.test(sent) ? sent : randomUUID();
}

/** Returns the interaction id on every response of the listener, errors included. */
export function echoInteractionId(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(INTERACTION_ID, request.id);
    done(null, payload);
  });
}

/** An x-fapi-auth-date value: an RFC 7231 IMF-fixdate. */
export function isHttpDate(value: string): boolean {
  return HTTP_DATE.test(value) && !Number.isNaN(Date.parse(value));
}

/** FAPI headers a client may send about its customer (FAPI 1.0 Baseline §6.2.2): checked for form before they go upstream. */
export function checkFapiRequestHeaders(request: FastifyRequest): void {
  const authDate = request.headers['x-fapi-auth-date'];
  if (authDate !== undefined && (typeof authDate !== 'string' || !isHttpDate(authDate)))
    throw invalidRequest('x-fapi-auth-date must be an HTTP date (e.g. Sun, 10 Sep 2017 19:43:31 GMT)');
  const ip = request.headers['x-fapi-customer-ip-address'];
  if (ip !== undefined && (typeof ip !== 'string' || isIP(ip) === 0)) throw invalidRequest('x-fapi-customer-ip-address must be an IPv4 or IPv6 address');
}
