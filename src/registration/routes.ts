import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { addressKey, clientAddress } from '../http/client-address.js';
import { methodNotAllowed, NO_STORE } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';
import { TokenBuckets } from '../rate-limit/token-buckets.js';
import { usableCertificate, type PeerCertificate } from '../tls/peer-certificate.js';
import type { RegisteredClientRecord } from '../clients/registered-clients.js';
import type { ClientRegistrations, RegistrationInput } from './client-registrations.js';
import { RegistrationError } from './errors.js';

type Operation = 'create' | 'read' | 'update' | 'delete';

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The registration endpoint (RFC 7591) and the registered clients' configuration endpoints (RFC 7592)
 * on the mTLS listener: every call presents a client certificate. Bodies are JSON or a signed JWT,
 * bounded in size; calls are rate-limited per client address and in all.
 */
export async function registrationRoutes(app: FastifyInstance, ctx: GatewayContext, registrations: ClientRegistrations): Promise<void> {
  const settings = ctx.config.registration;
  const perAddress = new TokenBuckets(settings.rateLimit.perIpPerMinute, settings.rateLimit.perIpPerMinute, 10_000);
  const overall = new TokenBuckets(settings.rateLimit.perMinute, settings.rateLimit.perMinute, 1);
  await app.register(async (scope) => {
    const bodyLimit = settings.maxBodyBytes;
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new RegistrationError('invalid_client_metadata', 'the body is not valid JSON'), undefined);
      }
    });
    scope.addContentTypeParser('application/jwt', { parseAs: 'string', bodyLimit }, (_req, body, done) => done(null, (body as string).trim()));
    scope.addHook('onRequest', async (request) => {
      const key = addressKey(clientAddress(request, ctx.trustedProxies));
      for (const taken of [overall.take('all'), perAddress.take(key)])
        if (!taken.allowed) throw new OAuthError('slow_down', 'too many registration requests; retry later', 429, { 'retry-after': String(taken.retryAfterSeconds) });
    });

    const observe = async (operation: Operation, request: FastifyRequest, work: () => Promise<FastifyReply>) => {
      try {
        const reply = await work();
        ctx.metrics?.registrations.inc({ operation, outcome: 'success' });
        return reply;
      } catch (err) {
        ctx.metrics?.registrations.inc({ operation, outcome: err instanceof OAuthError ? err.error : 'error' });
        if (err instanceof OAuthError) request.clientId ??= (request.params as { clientId?: string })?.clientId;
        throw err;
      }
    };
    const audit = (request: FastifyRequest, event: string, record: RegisteredClientRecord) =>
      request.log.info(
        { audit: event, clientId: record.metadata.client_id, softwareId: record.registration.softwareId, directory: record.registration.directory },
        event,
      );

    scope.post(PATHS.registration, (request, reply) =>
      observe('create', request, async () => {
        const { record, accessToken } = await registrations.create(inputOf(ctx, request));
        request.clientId = record.metadata.client_id;
        audit(request, 'client_registered', record);
        return reply.code(201).headers(NO_STORE).send(registrations.response(record, accessToken));
      }),
    );
    const managed = `${PATHS.registration}/:clientId`;
    scope.get(managed, (request, reply) =>
      observe('read', request, async () => {
        const record = await authorize(ctx, registrations, request);
        return reply.code(200).headers(NO_STORE).send(registrations.response(record, registrations.keepsAccessToken ? bearerOf(request) : undefined));
      }),
    );
    scope.put(managed, (request, reply) =>
      observe('update', request, async () => {
        const current = await authorize(ctx, registrations, request);
        const { record, accessToken } = await registrations.update(current, inputOf(ctx, request));
        audit(request, 'client_updated', record);
        return reply.code(200).headers(NO_STORE).send(registrations.response(record, accessToken ?? (registrations.keepsAccessToken ? bearerOf(request) : undefined)));
      }),
    );
    scope.delete(managed, (request, reply) =>
      observe('delete', request, async () => {
        const current = await authorize(ctx, registrations, request);
        const record = await registrations.remove(current.metadata.client_id);
        if (record) audit(request, 'client_deleted', record);
        return reply.code(204).headers(NO_STORE).send();
      }),
    );
    methodNotAllowed(scope, PATHS.registration, ['POST']);
    methodNotAllowed(scope, managed, ['GET', 'PUT', 'DELETE']);
  });
}

function certificateOf(ctx: GatewayContext, request: FastifyRequest): PeerCertificate {
  const certificate = usableCertificate(ctx.peerCertificate(request.raw));
  if (!certificate) throw new RegistrationError('invalid_client', 'a valid client certificate is required');
  return certificate;
}

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = BEARER.exec(header);
  if (!match) throw new RegistrationError('invalid_token', 'the Authorization header is not a Bearer token', 401, { 'www-authenticate': 'Bearer error="invalid_token"' });
  return match[1];
}

function inputOf(ctx: GatewayContext, request: FastifyRequest): RegistrationInput {
  const type = request.headers['content-type']?.split(';')[0].trim().toLowerCase();
  if (request.body === undefined) throw new RegistrationError('invalid_client_metadata', 'the registration request has no body');
  return { body: request.body, format: type === 'application/jwt' ? 'jwt' : 'json', certificate: certificateOf(ctx, request), bearer: bearerOf(request) };
}

async function authorize(ctx: GatewayContext, registrations: ClientRegistrations, request: FastifyRequest): Promise<RegisteredClientRecord> {
  const { clientId } = request.params as { clientId: string };
  request.clientId = clientId;
  if (ctx.hooks.authorizeRegistrationManagement) {
    await ctx.hooks.authorizeRegistrationManagement({ clientId, request });
    return registrations.managed(clientId);
  }
  return registrations.authorize(clientId, bearerOf(request), usableCertificate(ctx.peerCertificate(request.raw)));
}
