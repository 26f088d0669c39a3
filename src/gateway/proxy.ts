import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import replyFrom from '@fastify/reply-from';
import type { RouteConfig } from '../config/schema.js';
import type { GatewayContext } from '../context.js';
import { ConfigError } from '../config/config-error.js';
import { PATHS } from '../config/urls.js';
import { methodNotAllowed } from '../http/error-handler.js';
import { OAuthError } from '../oauth/errors.js';
import { statusClass } from '../observability/metrics.js';
import { guard, TokenRejected } from '../tokens/guard.js';
import { offersPairwise } from '../subjects/subject-identifiers.js';
import { checkFapiRequestHeaders, INTERACTION_ID } from './fapi-headers.js';
import { conventionsOf, type ErrorRenderingConfig, type ResourceExchange } from './resource-conventions.js';
import { classifyUpstreamError, sendUpstreamError, type UpstreamFailure } from './upstream-errors.js';
import { downstreamHeaders, upstreamHeaders } from './upstream-headers.js';
import { narrowerPrefixes, upstreamBase, upstreamPath } from './upstream-path.js';
import { CLIENT_GONE, UpstreamPool } from './upstream-pool.js';

const TOO_LARGE = Symbol('body too large');
const EXCHANGE = Symbol('the request through route conventions');

/** The resource front door: one encapsulated scope per configured route, each with its own keep-alive pool. */
export async function gatewayRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  for (const route of ctx.config.routes) await app.register(async (scope) => routeScope(scope, ctx, route));
}

/** Route prefixes must be distinct and must not shadow the server's own endpoints. */
export function checkRoutes(routes: RouteConfig[]): void {
  const reserved = Object.values(PATHS) as string[];
  const seen = new Set<string>();
  routes.forEach((route, i) => {
    const first = '/' + route.prefix.split('/')[1];
    if (reserved.includes(first) || first === '/.well-known' || first === '/interaction' || first === '/assets')
      throw new ConfigError(`routes[${i}].prefix`, `${route.prefix} collides with the gateway's own endpoint ${first}`);
    if (seen.has(route.prefix)) throw new ConfigError(`routes[${i}].prefix`, `duplicate prefix ${route.prefix}`);
    seen.add(route.prefix);
  });
}

async function routeScope(scope: FastifyInstance, ctx: GatewayContext, route: RouteConfig): Promise<void> {
  // Bodies stream through to the upstream; only their size is watched.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (request, payload, done) => {
    if (Number(request.headers['content-length'] ?? 0) > route.bodyLimitBytes) return done(new OAuthError('invalid_request', 'request body too large', 413));
    done(null, limitBody(payload, route.bodyLimitBytes, request));
  });
  const base = upstreamBase(route.upstream);
  const narrower = narrowerPrefixes(route.prefix, ctx.config.routes.map((r) => r.prefix));
  const { pool, release } = sharedPool(route, base.origin);
  const conventions = conventionsOf(route);
  if (conventions) conventionHooks(scope, conventions);
  const byMethod = conventions?.scopesByMethod;
  // The customer's chosen accounts travel upstream; the grant is read for them only where a choice can have been made.
  const accountsChosen = ctx.pages.accounts !== undefined || ctx.config.interaction.mode === 'external' || ctx.hooks.consentDetails !== undefined;
  // With pairwise subjects the token carries the sub the client sees: the upstream is told the
  // customer's own, from the grant.
  const readsGrant = conventions?.readsGrant === true || offersPairwise(ctx.profile) || accountsChosen;
  const refused = (stage: 'headers' | 'grant', err: unknown): never => {
    ctx.metrics?.resourceConventionRefusals.inc({ route: route.prefix, stage, status: String((err as { status?: number }).status ?? 500) });
    throw err;
  };
  // Runs once the listener has stopped taking requests (or the shutdown grace cut them); the pool
  // goes with the last listener that routes to it.
  scope.addHook('onClose', release);
  await scope.register(replyFrom, { base: base.origin, undici: pool as never, disableRequestLogging: true });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    let exchange: ResourceExchange | undefined;
    if (conventions) {
      exchange = { upstreamHeaders: {}, responseHeaders: {} };
      (request as unknown as Record<symbol, ResourceExchange>)[EXCHANGE] = exchange;
      try {
        conventions.checkRequest?.(request, exchange);
      } catch (err) {
        refused('headers', err);
      }
    }
    const token = await guard(ctx, request, byMethod?.[request.method] ?? route.scopes);
    checkFapiRequestHeaders(request);
    const grant = readsGrant ? await ctx.grants.get(token.grant_id) : undefined;
    if (conventions?.authorize) {
      try {
        conventions.authorize({ request, claims: token, grant, exchange: exchange! });
      } catch (err) {
        refused('grant', err);
      }
    }
    if (readsGrant && !grant) throw new TokenRejected('revoked', 'invalid_token', 'the authorization has ended', [], token.cnf.jkt !== undefined ? ctx.dpop.rules.algorithms : undefined);
    const identity = grant !== undefined && grant.sub !== token.sub ? { ...token, sub: grant.sub } : token;
    const { path, query } = upstreamPath(request.url, route.prefix, base, narrower);
    const metrics = ctx.metrics;
    const failed = (failure: UpstreamFailure, detail?: Record<string, unknown>) => {
      request.log.warn({ event: 'upstream_error', route: route.prefix, failure, ...detail }, 'upstream call failed');
      metrics?.upstreamErrors.inc({ route: route.prefix, kind: failure });
    };
    // The route's timeout covers the whole request: what the checks above took is spent.
    const remaining = Math.floor(route.timeoutMs - reply.elapsedTime);
    const refusal = pool.saturated ? 'overflow' : remaining <= 0 ? 'timeout' : undefined;
    if (refusal) {
      failed(refusal);
      return sendUpstreamError(reply, refusal);
    }
    const started = metrics ? performance.now() : 0;
    const clientGone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) clientGone.abort();
    });
    return reply.from(path, {
      timeout: remaining,
      queryString: () => query,
      rewriteRequestHeaders: (_raw, headers) => ({
        ...upstreamHeaders(headers, identity, route, conventions?.interactionId?.(request) ?? request.id, { ip: request.ip, host: request.headers.host }, exchange?.upstreamHeaders, grant?.accountIds),
        [CLIENT_GONE]: clientGone.signal,
      }),
      rewriteHeaders: (headers) => downstreamHeaders(headers),
      // Never retried: a non-idempotent request must not reach the upstream twice.
      retryDelay: () => null,
      onResponse: (_request, _reply, res) => {
        metrics?.upstreamDuration.observe({ route: route.prefix, status_class: statusClass(res.statusCode) }, (performance.now() - started) / 1000);
        // Past this point the client has the status line: a failure can only cut the body short.
        res.stream.once('error', (error: unknown) => {
          // When the client left first, destroying the body is our doing; the request line says so.
          if (clientGone.signal.aborted || reply.raw.destroyed) return;
          failed(classifyUpstreamError(error), { midBody: true });
        });
        reply.send(res.stream);
      },
      onError: (_failed, { error }) => {
        // The client left before the upstream answered: nothing to answer, and not the upstream's failure.
        if (clientGone.signal.aborted) return;
        const failure = (request as unknown as Record<symbol, boolean>)[TOO_LARGE] ? 'too_large' : classifyUpstreamError(error);
        failed(failure);
        sendUpstreamError(reply, failure);
      },
    });
  };
  for (const url of [route.prefix, `${route.prefix}/*`]) {
    scope.route({ method: route.methods, url, handler });
    methodNotAllowed(scope, url, route.methods);
  }
}

/**
 * A route with conventions: its errors, wherever raised, are rendered by them (the route options of
 * every route of the scope, the 405 answers included, carry the renderer), and every response gets
 * their headers last.
 */
function conventionHooks(scope: FastifyInstance, conventions: NonNullable<ReturnType<typeof conventionsOf>>): void {
  const renderError = conventions.renderError?.bind(conventions);
  if (renderError)
    scope.addHook('onRoute', (options) => {
      const config: ErrorRenderingConfig & typeof options.config = { ...options.config, renderError };
      options.config = config;
    });
  const interactionIdOf = conventions.interactionId?.bind(conventions);
  scope.addHook('onSend', (request, reply, payload, done) => {
    if (interactionIdOf) reply.header(INTERACTION_ID, interactionIdOf(request));
    const exchange = (request as unknown as Record<symbol, ResourceExchange | undefined>)[EXCHANGE];
    if (exchange) reply.headers(exchange.responseHeaders);
    done(null, payload);
  });
}

// Both TLS listeners route to the same upstreams: one pool per route, so its limits hold for the route.
const pools = new WeakMap<RouteConfig, { pool: UpstreamPool; users: number }>();

function sharedPool(route: RouteConfig, origin: string): { pool: UpstreamPool; release: () => Promise<void> } {
  let entry = pools.get(route);
  if (!entry) {
    entry = { pool: new UpstreamPool(origin, { maxConnections: route.maxConnections, maxPending: route.maxPending, timeoutMs: route.timeoutMs }), users: 0 };
    pools.set(route, entry);
  }
  entry.users++;
  const held = entry;
  return {
    pool: held.pool,
    release: async () => {
      if (--held.users > 0) return;
      pools.delete(route);
      await held.pool.destroy();
    },
  };
}

/** Counts a streamed body and stops it past the route's limit. */
function limitBody(payload: NodeJS.ReadableStream, limit: number, request: FastifyRequest): Transform {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) {
        (request as unknown as Record<symbol, boolean>)[TOO_LARGE] = true;
        done(new OAuthError('invalid_request', 'request body too large', 413));
        return;
      }
      done(null, chunk);
    },
  });
  // The failure is reported through the proxy's onError (or not at all when the request is refused
  // before its body is read), so the stream's own error event needs no listener of consequence.
  counter.on('error', () => {});
  return payload.pipe(counter);
}
