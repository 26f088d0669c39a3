import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../../../context.js';
import { NO_STORE } from '../../../http/error-handler.js';
import { guard, guardWithWrite } from '../../../tokens/guard.js';
import type { AccessTokenClaims } from '../../../tokens/access-token.js';
import type { ConsentSettings } from '../settings.js';
import { consentData, currentExpiry, ofbDateTime, parseOfbDateTime, statusAt, type ConsentRecord, type ConsentState, type Document } from './consent.js';
import { ConsentStateConflict, type Consents } from './consents.js';
import { checkPermissions } from './permissions.js';
import { ofbError, useOfbErrors } from './ofb-errors.js';

export const CONSENTS_PATH = '/open-banking/consents/v3/consents';
const CPF = /^\d{11}$/;
// Since Consents 3.3.1 a CNPJ may hold letters in its first 12 positions.
const CNPJ = /^[0-9A-Z]{12}[0-9]{2}$/;
const MAX_EXPIRY_SECONDS = 365 * 86_400;
const MAX_BODY_BYTES = 16_384;

/**
 * Consents API v3 (mTLS listener): create, read, delete and list extensions with a client_credentials
 * token of scope `consents` bound to the caller's certificate (authorization-code tokens refused);
 * extend with the authorization-code token of the consent itself.
 */
export async function consentsApi(mtls: FastifyInstance, ctx: GatewayContext, consents: Consents, settings: ConsentSettings): Promise<void> {
  await mtls.register(
    async (scope) => {
      useOfbErrors(scope, ctx.metrics);
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, scope.getDefaultJsonParser('error', 'error'));

      scope.post('/consents', async (request, reply) => {
        // The consent is written only while the token is unrevoked: one round trip, not a check then the write.
        const record = await guardWithWrite(ctx, request, ['consents'], async (token, unrevoked) => {
          clientCredentialsOnly(token);
          const created = newConsent(request.body, token.client_id, consents.newId(), settings);
          return (await consents.create(created, unrevoked)) ? created : undefined;
        });
        return sendConsent(reply.code(201), ctx, { record });
      });

      scope.get<{ Params: { consentId: string } }>('/consents/:consentId', async (request, reply) => {
        const token = await clientToken(ctx, request);
        const state = await ownConsent(consents, request.params.consentId, token.client_id);
        return sendConsent(reply, ctx, state);
      });

      scope.delete<{ Params: { consentId: string } }>('/consents/:consentId', async (request, reply) => {
        const token = await clientToken(ctx, request);
        const state = await ownConsent(consents, request.params.consentId, token.client_id);
        const { status } = statusAt(state, Math.floor(Date.now() / 1000));
        if (status === 'REJECTED') throw ofbError(422, 'the consent is already rejected', 'CONSENTIMENTO_EM_STATUS_REJEITADO');
        // Ended by the TPP on the customer's behalf: before approval a rejection, after it a revocation.
        const ended = await consents.end(state, 'USER', status === 'AUTHORISED' ? 'CUSTOMER_MANUALLY_REVOKED' : 'CUSTOMER_MANUALLY_REJECTED');
        if (!ended) throw ofbError(422, 'the consent is already rejected', 'CONSENTIMENTO_EM_STATUS_REJEITADO');
        return reply.code(204).headers(NO_STORE).send();
      });

      // Consent extension: the customer's own authorization (its authorization-code token) renews it without a redirect.
      scope.post<{ Params: { consentId: string } }>('/consents/:consentId/extends', async (request, reply) => {
        const token = await guard(ctx, request, []);
        const { consentId } = request.params;
        if (token.consent_id !== consentId) throw ofbError(403, "extensions take the token of the customer's authorization of this consent", 'FORBIDDEN');
        const customerIpAddress = header(request, 'x-fapi-customer-ip-address');
        const customerUserAgent = header(request, 'x-customer-user-agent');
        const state = await ownConsent(consents, consentId, token.client_id);
        const asked = extensionRequest(request.body, state.record);
        let extended;
        try {
          extended = await consents.extend(consentId, (current) => {
            const now = Math.floor(Date.now() / 1000);
            const previous = currentExpiry(current);
            checkNewExpiry(asked.expiresAt, previous, now);
            return {
              at: now,
              ...(asked.expiresAt !== undefined ? { expiresAt: asked.expiresAt } : {}),
              ...(previous !== undefined ? { previousExpiresAt: previous } : {}),
              loggedUser: asked.loggedUser,
              ...(asked.businessEntity ? { businessEntity: asked.businessEntity } : {}),
              customerIpAddress,
              customerUserAgent,
            };
          });
        } catch (err) {
          if (err instanceof ConsentStateConflict) throw ofbError(422, err.message, 'ESTADO_CONSENTIMENTO_INVALIDO');
          throw err;
        }
        return sendConsent(reply.code(201), ctx, extended);
      });

      scope.get<{ Params: { consentId: string } }>('/consents/:consentId/extensions', async (request, reply) => {
        const token = await clientToken(ctx, request);
        const state = await ownConsent(consents, request.params.consentId, token.client_id);
        const now = Math.floor(Date.now() / 1000);
        const data = [...(state.extensions ?? [])].reverse().map((e) => ({
          ...(e.expiresAt !== undefined ? { expirationDateTime: ofbDateTime(e.expiresAt) } : {}),
          ...(e.previousExpiresAt !== undefined ? { previousExpirationDateTime: ofbDateTime(e.previousExpiresAt) } : {}),
          loggedUser: { document: e.loggedUser },
          ...(e.businessEntity ? { businessEntity: { document: e.businessEntity } } : {}),
          requestDateTime: ofbDateTime(e.at),
          xFapiCustomerIpAddress: e.customerIpAddress,
          xCustomerUserAgent: e.customerUserAgent,
        }));
        return reply
          .headers(NO_STORE)
          .type('application/json; charset=utf-8')
          .send({
            data,
            links: { self: `${ctx.urls.mtlsBase}${CONSENTS_PATH}/${encodeURIComponent(state.record.id)}/extensions` },
            meta: { totalRecords: data.length, totalPages: 1, requestDateTime: ofbDateTime(now) },
          });
      });

      for (const [path, allowed] of [['/consents', 'POST'], ['/consents/:consentId', 'GET, DELETE'], ['/consents/:consentId/extends', 'POST'], ['/consents/:consentId/extensions', 'GET']] as const)
        scope.route({
          method: ['PUT', 'PATCH', 'OPTIONS', ...(allowed === 'POST' ? ['GET', 'DELETE'] : allowed === 'GET' ? ['POST', 'DELETE'] : ['POST'])] as never,
          url: path,
          handler: async () => {
            throw ofbError(405, `use ${allowed}`, undefined, { allow: allowed });
          },
        });
    },
    { prefix: '/open-banking/consents/v3' },
  );
}

/** The caller's client_credentials token with scope `consents`, bound to its certificate (or DPoP key). */
async function clientToken(ctx: GatewayContext, request: FastifyRequest): Promise<AccessTokenClaims> {
  return clientCredentialsOnly(await guard(ctx, request, ['consents']));
}

function clientCredentialsOnly(token: AccessTokenClaims): AccessTokenClaims {
  if (token.consent_id !== undefined || token.sub !== token.client_id)
    throw ofbError(403, 'this API takes a client_credentials token, not one issued for a customer', 'FORBIDDEN');
  return token;
}

async function ownConsent(consents: Consents, id: string, clientId: string) {
  const state = id.length <= 256 ? await consents.read(id) : undefined;
  if (!state) throw ofbError(404, 'no such consent', 'NAO_ENCONTRADO');
  if (state.record.clientId !== clientId) throw ofbError(403, 'the consent belongs to another client', 'FORBIDDEN');
  return state;
}

function sendConsent(reply: FastifyReply, ctx: GatewayContext, state: ConsentState): FastifyReply {
  const now = Math.floor(Date.now() / 1000);
  return reply
    .headers(NO_STORE)
    .type('application/json; charset=utf-8')
    .send({
      data: consentData(state, now),
      links: { self: `${ctx.urls.mtlsBase}${CONSENTS_PATH}/${encodeURIComponent(state.record.id)}` },
      meta: { totalRecords: 1, totalPages: 1, requestDateTime: ofbDateTime(now) },
    });
}

/** Validates a CreateConsent body (OFB Consents v3) into a new consent record; throws the OFB error. */
export function newConsent(body: unknown, clientId: string, id: string, settings: ConsentSettings): ConsentRecord {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) throw ofbError(400, 'data is required', 'PARAMETRO_NAO_INFORMADO');
  const loggedUser = document(data.loggedUser, 'loggedUser', 'CPF', CPF);
  if (!loggedUser) throw ofbError(400, 'data.loggedUser.document is required', 'PARAMETRO_NAO_INFORMADO');
  const businessEntity = data.businessEntity === undefined ? undefined : document(data.businessEntity, 'businessEntity', 'CNPJ', CNPJ);
  if (data.businessEntity !== undefined && !businessEntity) throw ofbError(400, 'data.businessEntity.document is required', 'PARAMETRO_NAO_INFORMADO');
  const permissions = data.permissions;
  if (!Array.isArray(permissions) || permissions.length === 0) throw ofbError(400, 'data.permissions must be a non-empty array', 'PARAMETRO_NAO_INFORMADO');
  if (permissions.length > 100 || permissions.some((p) => typeof p !== 'string' || p.length > 100)) throw ofbError(400, 'data.permissions must hold permission names');
  const now = Math.floor(Date.now() / 1000);
  let expiresAt: number | undefined;
  if (data.expirationDateTime !== undefined) {
    expiresAt = typeof data.expirationDateTime === 'string' ? parseOfbDateTime(data.expirationDateTime) : undefined;
    if (expiresAt === undefined) throw ofbError(400, 'data.expirationDateTime must be YYYY-MM-DDThh:mm:ssZ');
    if (expiresAt <= now || expiresAt > now + MAX_EXPIRY_SECONDS)
      throw ofbError(422, 'expirationDateTime must be in the future and at most one year ahead', 'DATA_EXPIRACAO_INVALIDA');
  }
  const checked = checkPermissions(permissions as string[], { businessEntity: businessEntity !== undefined, products: settings.consents.products });
  if ('problem' in checked) throw ofbError(checked.problem.status, checked.problem.detail, checked.problem.code);
  return {
    id,
    clientId,
    loggedUser,
    ...(businessEntity ? { businessEntity } : {}),
    permissions: checked.permissions,
    createdAt: now,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

const MAX_HEADER = 512;

/** A header the extension must carry (the customer's address and browser at the TPP), 400 when missing. */
function header(request: FastifyRequest, name: string): string {
  const value = request.headers[name];
  if (value === undefined || value === '') throw ofbError(400, `the ${name} header is required`, 'PARAMETRO_NAO_INFORMADO');
  if (typeof value !== 'string' || value.length > MAX_HEADER) throw ofbError(400, `the ${name} header is invalid`, 'PARAMETRO_INVALIDO');
  return value;
}

/**
 * The body of `POST /consents/{id}/extends`: the customer who asks (the consent's own, with its
 * business when it has one) and the new end (none: indefinite).
 */
function extensionRequest(body: unknown, record: ConsentRecord): { expiresAt?: number; loggedUser: Document; businessEntity?: Document } {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) throw ofbError(400, 'data is required', 'PARAMETRO_NAO_INFORMADO');
  const loggedUser = document(data.loggedUser, 'loggedUser', 'CPF', CPF);
  if (!loggedUser) throw ofbError(400, 'data.loggedUser.document is required', 'PARAMETRO_NAO_INFORMADO');
  const businessEntity = data.businessEntity === undefined ? undefined : document(data.businessEntity, 'businessEntity', 'CNPJ', CNPJ);
  if (record.businessEntity && !businessEntity) throw ofbError(422, 'the consent is a business one: data.businessEntity is required', 'INFORMACOES_PJ_NAO_INFORMADAS');
  if (loggedUser.identification !== record.loggedUser.identification || (businessEntity && businessEntity.identification !== record.businessEntity?.identification))
    throw ofbError(403, 'the customer asking is not the one the consent was made for', 'FORBIDDEN');
  let expiresAt: number | undefined;
  if (data.expirationDateTime !== undefined) {
    expiresAt = typeof data.expirationDateTime === 'string' ? parseOfbDateTime(data.expirationDateTime) : undefined;
    if (expiresAt === undefined) throw ofbError(400, 'data.expirationDateTime must be YYYY-MM-DDThh:mm:ssZ');
  }
  return { ...(expiresAt !== undefined ? { expiresAt } : {}), loggedUser, ...(businessEntity ? { businessEntity } : {}) };
}

/** OFB: the new end is later than now and than the current end, at most a year ahead; none (indefinite) unless it is already. */
function checkNewExpiry(next: number | undefined, previous: number | undefined, now: number): void {
  const invalid = (why: string) => ofbError(422, why, 'DATA_EXPIRACAO_INVALIDA');
  if (next === undefined) {
    if (previous === undefined) throw invalid('the consent is already indefinite');
    return;
  }
  if (next <= now || next > now + MAX_EXPIRY_SECONDS) throw invalid('expirationDateTime must be in the future and at most one year ahead');
  if (previous === undefined || next <= previous) throw invalid('expirationDateTime must be later than the current end of the consent');
}

function document(holder: unknown, name: string, rel: string, pattern: RegExp): Document | undefined {
  if (!isObject(holder) || !isObject(holder.document)) return undefined;
  const { identification, rel: given } = holder.document;
  if (typeof identification !== 'string' || !pattern.test(identification)) throw ofbError(400, `data.${name}.document.identification is not a valid ${rel}`);
  if (given !== rel) throw ofbError(400, `data.${name}.document.rel must be ${rel}`);
  return { identification, rel };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
