import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import type { Client } from '../../../clients/client.js';
import type { GatewayContext } from '../../../context.js';
import { methodNotAllowed, NO_STORE } from '../../../http/error-handler.js';
import { guard, TokenRejected } from '../../../tokens/guard.js';
import { usableCertificate } from '../../../tls/peer-certificate.js';
import { certificateIdentity } from '../registration/certificate-identity.js';
import { paymentConsentRequest } from './consent-request.js';
import { IdempotencyKeys } from './idempotency.js';
import { OfbError, ofbTime } from './ofb-error.js';
import { consentData, type PaymentConsent, type PaymentConsents } from './payment-consents.js';
import type { PaymentsSettings } from './settings.js';
import { checkClaims, signResponse, verifySignature } from './signed-messages.js';
import { paymentInstruction } from './payment-request.js';
import { paymentData, PixPayments } from './pix-payments.js';
import type { JWTPayload } from 'jose';

export const CONSENTS_PATH = '/open-banking/payments/v4/consents';
export const PAYMENTS_PATH = '/open-banking/payments/v4/pix/payments';
/** A signed request's jti is remembered this long, per client (OFB: 24 hours). */
const JTI_SECONDS = 86_400;

interface Caller {
  client: Client;
  /** The TPP's organisation id, from its certificate. */
  organisationId: string;
  /** The payment consent the customer authorised (a customer's token). */
  consentId?: string;
}

/**
 * Payments v4 on the mTLS listener, payment consents and PIX payments: bodies are JWTs the TPP signed,
 * answers JWTs the bank signed, errors once the caller is known too; before that (token refused),
 * the OFB error envelope as JSON.
 */
export async function paymentConsentRoutes(app: FastifyInstance, ctx: GatewayContext, settings: PaymentsSettings, consents: PaymentConsents): Promise<void> {
  const endpoint = `${ctx.urls.mtlsBase}${CONSENTS_PATH}`;
  const paymentsEndpoint = `${ctx.urls.mtlsBase}${PAYMENTS_PATH}`;
  const pixPayments = new PixPayments(ctx.store);
  const idempotency = new IdempotencyKeys(ctx.store);
  const requests = ctx.metrics
    ? new Counter({
        name: 'fapi_gateway_brazil_payment_consent_requests_total',
        help: 'Payments API calls (Open Finance Brasil): consents and PIX payments, by operation (create, read, initiate, read_payment) and outcome (created, read, replayed, or the OFB error code).',
        labelNames: ['operation', 'outcome'] as const,
        registers: [ctx.metrics.registry],
      })
    : undefined;
  consents.useLog(app.log);

  const sign = (body: Record<string, unknown>, caller: Caller) => signResponse(ctx.keys, body, { issuer: settings.organisationId, audience: caller.organisationId });
  const selfLink = (consent: PaymentConsent) => ({ self: `${endpoint}/${encodeURIComponent(consent.consentId)}` });
  const document = (consent: PaymentConsent) => ({ data: consentData(consent), links: selfLink(consent), meta: { totalRecords: 1, totalPages: 1, requestDateTime: ofbTime() } });

  /** Runs an operation; a refusal once the caller is known is answered signed. */
  const answer = async (operation: 'create' | 'read' | 'initiate' | 'read_payment', request: FastifyRequest, reply: FastifyReply, work: (known: (c: Caller) => void) => Promise<FastifyReply>) => {
    let caller: Caller | undefined;
    try {
      const sent = await work((c) => (caller = c));
      // Answers of 400 and more were counted by their code where they were made.
      if (reply.statusCode < 400) requests?.inc({ operation, outcome: reply.statusCode === 201 ? 'created' : operation.startsWith('read') ? 'read' : 'replayed' });
      return sent;
    } catch (err) {
      if (!(err instanceof OfbError)) throw err;
      requests?.inc({ operation, outcome: err.code });
      if (err.status === 403 || err.status === 400) {
        const event = operation === 'initiate' ? 'payment_refused' : 'payment_consent_refused';
        request.log.warn({ audit: event, reason: err.code, clientId: request.clientId }, event);
      }
      if (!caller || err.status === 503) throw err;
      return reply.code(err.status).headers(NO_STORE).headers(err.headers).type('application/jwt').send(await sign(err.envelope(), caller));
    }
  };

  /**
   * A signed POST: the body a JWT the caller signed (PS256, aud the endpoint, iss its organisation, a
   * fresh jti), under an x-idempotency-key (the same key and body answer the same again). `create`
   * makes the answer; a 422 it throws is answered (and remembered) like any other.
   */
  const signedPost = async (request: FastifyRequest, reply: FastifyReply, caller: Caller, endpoint: string, operation: string, create: (payload: JWTPayload) => Promise<[number, Record<string, unknown>]>) => {
    const clientId = caller.client.id;
    const type = request.headers['content-type']?.split(';')[0].trim().toLowerCase();
    if (type !== 'application/jwt' || typeof request.body !== 'string') throw new OfbError(415, 'CONTENT_TYPE_INVALIDO', 'the request body must be a signed JWT (application/jwt)');
    const key = IdempotencyKeys.check(request.headers['x-idempotency-key']);
    const body = request.body;
    const payload = await verifySignature(body, caller.client.jwtKeys!);
    const earlier = await idempotency.lookup(clientId, key, body);
    if (earlier) return reply.code(earlier.status).headers(NO_STORE).type(earlier.contentType).send(earlier.body);
    const jti = checkClaims(payload, { audience: endpoint, issuer: caller.organisationId });
    if (!(await ctx.store.setIfAbsent('message-jti', `${clientId}\u0000${jti}`, 1, JTI_SECONDS)))
      throw new OfbError(403, 'INVALID_CLIENT', "the signed request's jti has been used before");
    const claimed = await idempotency.claim(clientId, key, body);
    if (claimed.kind === 'replay') return reply.code(claimed.answer.status).headers(NO_STORE).type(claimed.answer.contentType).send(claimed.answer.body);
    let status: number;
    let jwt: string;
    try {
      try {
        const [created, document] = await create(payload);
        [status, jwt] = [created, await sign(document, caller)];
      } catch (err) {
        if (!(err instanceof OfbError) || err.status !== 422) throw err;
        requests?.inc({ operation, outcome: err.code });
        [status, jwt] = [422, await sign(err.envelope(), caller)];
      }
      await claimed.finish(status, 'application/jwt', jwt);
    } catch (err) {
      await claimed.release().catch(() => undefined);
      throw err;
    }
    return reply.code(status).headers(NO_STORE).type('application/jwt').send(jwt);
  };

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/jwt', { parseAs: 'string', bodyLimit: settings.maxBodyBytes }, (_req, body, done) => done(null, (body as string).trim()));
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

    scope.post(CONSENTS_PATH, (request, reply) =>
      answer('create', request, reply, async (known) => {
        const caller = await callerOf(ctx, request, 'client');
        known(caller);
        return signedPost(request, reply, caller, endpoint, 'create', async (payload) => {
          const consent = await consents.create({ clientId: caller.client.id, organisationId: caller.organisationId, request: paymentConsentRequest(payload) });
          return [201, document(consent)];
        });
      }),
    );

    scope.get(`${CONSENTS_PATH}/:consentId`, (request, reply) =>
      answer('read', request, reply, async (known) => {
        const caller = await callerOf(ctx, request, 'client');
        known(caller);
        const consent = await consents.get((request.params as { consentId: string }).consentId);
        // Another client's consent is as unknown as one that does not exist.
        if (!consent || consent.clientId !== caller.client.id) throw new OfbError(404, 'RECURSO_NAO_ENCONTRADO', 'no such payment consent');
        return reply.code(200).headers(NO_STORE).type('application/jwt').send(await sign(document(consent), caller));
      }),
    );

    // The payment the customer authorised: with the token of that authorization, once.
    scope.post(PAYMENTS_PATH, (request, reply) =>
      answer('initiate', request, reply, async (known) => {
        const caller = await callerOf(ctx, request, 'customer');
        known(caller);
        return signedPost(request, reply, caller, paymentsEndpoint, 'initiate', async (payload) => {
          const consent = await consents.get(caller.consentId!);
          if (!consent || consent.clientId !== caller.client.id || consent.status !== 'AUTHORISED')
            throw new OfbError(422, 'CONSENTIMENTO_INVALIDO', `the payment consent is ${consent?.status ?? 'unknown'}, not AUTHORISED`);
          let instruction;
          try {
            instruction = paymentInstruction(payload, consent);
          } catch (err) {
            // OFB: a payment refused for its content (422) consumes the consent as well.
            if (err instanceof OfbError && err.status === 422) await consents.consume(consent.consentId).catch(() => undefined);
            throw err;
          }
          await consents.consume(consent.consentId);
          const payment = await pixPayments.record(consent, instruction);
          request.log.info({ audit: 'payment_received', client_id: caller.client.id, consentId: consent.consentId, paymentId: payment.paymentId, outcome: 'success' }, 'payment_received');
          return [201, { data: [paymentData(payment)], links: { self: `${paymentsEndpoint}/${payment.paymentId}` }, meta: { totalRecords: 1, totalPages: 1, requestDateTime: ofbTime() } }];
        });
      }),
    );

    scope.get(`${PAYMENTS_PATH}/:paymentId`, (request, reply) =>
      answer('read_payment', request, reply, async (known) => {
        const caller = await callerOf(ctx, request, 'client');
        known(caller);
        const payment = await pixPayments.get((request.params as { paymentId: string }).paymentId);
        if (!payment || payment.clientId !== caller.client.id) throw new OfbError(404, 'RECURSO_NAO_ENCONTRADO', 'no such payment');
        const body = { data: paymentData(payment), links: { self: `${paymentsEndpoint}/${payment.paymentId}` }, meta: { totalRecords: 1, totalPages: 1, requestDateTime: ofbTime() } };
        return reply.code(200).headers(NO_STORE).type('application/jwt').send(await sign(body, caller));
      }),
    );

    methodNotAllowed(scope, CONSENTS_PATH, ['POST']);
    methodNotAllowed(scope, `${CONSENTS_PATH}/:consentId`, ['GET']);
    methodNotAllowed(scope, PAYMENTS_PATH, ['POST']);
    methodNotAllowed(scope, `${PAYMENTS_PATH}/:paymentId`, ['GET']);
  });
}

/**
 * The caller: a token of scope payments bound to this certificate, whose subject names its
 * organisation; a client_credentials token (`client`), or one the customer's authorization of a
 * payment consent brought (`customer`).
 */
async function callerOf(ctx: GatewayContext, request: FastifyRequest, kind: 'client' | 'customer'): Promise<Caller> {
  let claims;
  try {
    claims = await guard(ctx, request, ['payments']);
  } catch (err) {
    if (!(err instanceof TokenRejected)) throw err;
    ctx.metrics?.tokenRejections.inc({ reason: err.reason });
    const refused = new OfbError(err.status, err.status === 403 ? 'FORBIDDEN' : err.status === 400 ? 'BAD_REQUEST' : 'UNAUTHORIZED', err.description, err.headers);
    refused.audit = err.audit;
    throw refused;
  }
  if (claims.cnf['x5t#S256'] === undefined) throw new OfbError(401, 'UNAUTHORIZED', 'the access token must be bound to the client certificate');
  const consentId = typeof claims.consent_id === 'string' ? claims.consent_id : undefined;
  if (kind === 'client' && (claims.auth_time !== undefined || claims.sub !== claims.client_id || consentId !== undefined))
    throw new OfbError(403, 'FORBIDDEN', 'this API takes a client_credentials token');
  if (kind === 'customer' && consentId === undefined) throw new OfbError(403, 'FORBIDDEN', "a payment is initiated with the token of the customer's authorization of its consent");
  const client = await ctx.clients.get(claims.client_id);
  if (!client?.jwtKeys) throw new OfbError(403, 'INVALID_CLIENT', 'the client has no keys (jwks or jwks_uri) to verify its signed requests with');
  const certificate = usableCertificate(ctx.peerCertificate(request.raw))!;
  let organisationId: string | undefined;
  try {
    organisationId = certificateIdentity(certificate.parsed()).organisationId;
  } catch {
    organisationId = undefined;
  }
  if (!organisationId) throw new OfbError(403, 'INVALID_CLIENT', 'the client certificate names no organisation (organizationIdentifier OFBBR-<org id>)');
  return { client, organisationId, ...(consentId !== undefined ? { consentId } : {}) };
}
