// Loaded only when tracing is enabled (see tracing.ts): everything of OpenTelemetry comes in here.
import { register } from 'node:module';
import { context, diag, DiagLogLevel, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapPropagator } from '@opentelemetry/api';
import { NodeSDK, core, resources, tracing } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { FastifyRequest } from 'fastify';
import { VERSION } from '../../version.js';
import type { IndexEntry, IndexKind, RecordKind, SequenceStep, SetKind, Store } from '../../store/store.js';
import { useSpanRunner, type SpanRunner } from './spans.js';
import { otlpProtocol, type Tracing, type TracingSettings } from './tracing.js';
import { outboundUrlAttributes, pathOnly } from './redaction.js';

const TRACER = 'fapi-gateway';
const SHUTDOWN_MS = 5000;
const PROBLEM_INTERVAL_MS = 60_000;

export async function startSdk(settings: TracingSettings): Promise<Tracing> {
  // ES modules are instrumented through a loader hook, in place before the instrumentations are made
  // (they enable themselves then); it wraps only the modules they name (ioredis), imported from now on.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  const problems = problemReporter();
  diag.setLogger(problems.logger, DiagLogLevel.WARN);
  const fastify = new FastifyOtelInstrumentation({
    // The plugin is registered on the TLS listeners only (the ops listener's probes make no traces).
    registerOnInitialization: false,
    // A span per request and per handler; none per lifecycle hook (a dozen per request).
    instrumentHooks: false,
    // Stack traces are no business of a trace; the span's status says what failed.
    recordExceptions: false,
    requestHook: (span: Span, request: FastifyRequest) => {
      // The request line's query string carries request_uri, state, codes: the path only.
      span.setAttribute('url.path', pathOnly(request.url));
      span.setAttribute('fapi.interaction_id', request.id);
      span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`);
    },
  });
  const instrumentations = [
    fastify,
    // The upstream call (and jwks_uri, sector identifier fetches): a client span and `traceparent`.
    new UndiciInstrumentation({ startSpanHook: (request) => outboundUrlAttributes(request.origin, request.path) }),
    // Command names only: keys hold session ids and request_uris, values hold grants.
    new IORedisInstrumentation({ dbStatementSerializer: (command) => command }),
  ];
  const sdk = new NodeSDK({
    serviceName: settings.serviceName ?? process.env.OTEL_SERVICE_NAME ?? 'fapi-gateway',
    resource: resources.resourceFromAttributes({ 'service.version': VERSION }),
    // Not the process detector: it records the command line.
    resourceDetectors: [resources.envDetector, resources.hostDetector],
    traceExporter: exporter(settings),
    ...(settings.sampleRatio !== undefined
      ? { sampler: new tracing.ParentBasedSampler({ root: new tracing.TraceIdRatioBasedSampler(settings.sampleRatio) }) }
      : {}),
    textMapPropagator: propagator(settings.acceptIncomingContext),
    instrumentations,
  });
  sdk.start();
  await waitForAllMessagesAcknowledged();

  const tracer = trace.getTracer(TRACER, VERSION);
  const runner: SpanRunner = (name, fn) =>
    tracer.startActiveSpan(name, async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: failureName(err) });
        throw err;
      } finally {
        span.end();
      }
    });
  useSpanRunner(runner);
  return {
    fastifyPlugin: fastify.plugin(),
    traceStore: (store, backend) => tracedStore(store, backend, tracer),
    reportProblemsTo: problems.reportTo,
    async shutdown() {
      useSpanRunner(undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sdk.shutdown().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_MS).unref()))]);
      clearTimeout(timer);
    },
  };
}

function exporter(settings: TracingSettings) {
  // Without a URL the exporters read OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS).
  const options = settings.endpoint ? { url: settings.endpoint } : {};
  return otlpProtocol(settings) === 'http/json' ? new JsonExporter(options) : new ProtobufExporter(options);
}

/**
 * W3C trace context on the way out (to the upstream). On the way in, a caller's `traceparent` is
 * ignored unless the deployment says otherwise: anyone on the Internet could otherwise choose the
 * trace ids and force sampling. No baggage either way.
 */
function propagator(acceptIncoming: boolean): TextMapPropagator {
  const w3c = new core.W3CTraceContextPropagator();
  if (acceptIncoming) return w3c;
  return {
    inject: (ctx, carrier, setter) => w3c.inject(ctx, carrier, setter),
    extract: (ctx: Context) => ctx,
    fields: () => w3c.fields(),
  };
}

/** A store call's span, within a request's trace only: background work (pollers) makes no traces of its own. */
function tracedStore(store: Store, backend: string, tracer: ReturnType<typeof trace.getTracer>): Store {
  const traced = <A extends unknown[], R>(operation: string, kindAt: number | undefined, fn: (...args: A) => Promise<R>, kindsOf?: (...args: A) => string) => {
    const name = `store ${operation}`;
    return (...args: A): Promise<R> => {
      if (trace.getSpan(context.active()) === undefined) return fn(...args);
      const attributes: Record<string, string> = { 'db.system.name': backend, 'db.operation.name': operation };
      if (kindAt !== undefined) attributes['fapi.store.kind'] = String(args[kindAt]);
      else if (kindsOf) attributes['fapi.store.kind'] = kindsOf(...args);
      return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
        try {
          return await fn(...args);
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: failureName(err) });
          throw err;
        } finally {
          span.end();
        }
      });
    };
  };
  return {
    set: traced('set', 0, (kind: RecordKind, id: string, value: unknown, ttl: number) => store.set(kind, id, value, ttl)),
    setIfAbsent: traced('set_if_absent', 0, (kind: RecordKind, id: string, value: unknown, ttl: number) => store.setIfAbsent(kind, id, value, ttl)),
    get: traced('get', 0, (kind: RecordKind, id: string) => store.get(kind, id)) as Store['get'],
    getMany: traced('get_many', undefined, (keys: ReadonlyArray<readonly [RecordKind, string]>) => store.getMany(keys)) as Store['getMany'],
    consume: traced('consume', 0, (kind: RecordKind, id: string) => store.consume(kind, id)) as Store['consume'],
    anyExists: traced('any_exists', undefined, (keys: ReadonlyArray<readonly [RecordKind, string]>) => store.anyExists(keys)),
    delete: traced('delete', 0, (kind: RecordKind, id: string) => store.delete(kind, id)),
    sequence: traced('sequence', undefined, (steps: readonly SequenceStep[]) => store.sequence(steps), (steps) => steps.map(stepKind).join(',')),
    addMember: traced('add_member', 0, (set: SetKind, member: string, max: number) => store.addMember(set, member, max)),
    removeMember: traced('remove_member', 0, (set: SetKind, member: string) => store.removeMember(set, member)),
    members: traced('members', 0, (set: SetKind) => store.members(set)),
    index: traced('index', undefined, (entries: readonly IndexEntry[]) => store.index(entries)),
    indexMembers: traced('index_members', 0, (kind: IndexKind, key: string) => store.indexMembers(kind, key)),
    unindex: traced('unindex', 0, (kind: IndexKind, key: string, member: string) => store.unindex(kind, key, member)),
    publish: traced('publish', undefined, (channel: string, message: string) => store.publish(channel, message)),
    subscribe: (channel, listener) => store.subscribe(channel, listener),
    ping: (...args) => store.ping(...args),
    close: () => store.close(),
    ...(store.onProblem ? { onProblem: store.onProblem.bind(store) } : {}),
    // A replica's copies are read without a call to trace (and without them, steps read from the store).
    ...(store.copy ? { copy: store.copy.bind(store) } : {}),
  };
}

/** The record kind or set a sequence step works on. */
function stepKind(step: SequenceStep): string {
  if ('addMember' in step) return step.addMember;
  if ('set' in step) return step.set;
  if ('absent' in step) return step.absent;
  if ('present' in step) return step.present;
  if ('unchanged' in step) return step.unchanged;
  return step.take;
}

/** What a span's status may say about a failure: its kind, never its message (which may quote input). */
function failureName(err: unknown): string {
  const e = err as { reason?: unknown; code?: unknown; name?: unknown };
  for (const value of [e?.reason, e?.code, e?.name]) if (typeof value === 'string') return value;
  return 'error';
}

/**
 * OpenTelemetry's own warnings (an export that failed: the collector down, refusing, too slow), at
 * most one a minute, to the gateway's log once it has one, to stderr before.
 */
function problemReporter() {
  let report: (message: string) => void = (message) => process.stderr.write(`fapi-gateway: tracing: ${message}\n`);
  let last = 0;
  let suppressed = 0;
  const note = (message: string, args: unknown[]) => {
    const now = Date.now();
    if (now - last < PROBLEM_INTERVAL_MS) {
      suppressed++;
      return;
    }
    last = now;
    const cause = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : '')).filter(Boolean).join(' ');
    report(`${message}${cause ? `: ${cause}` : ''}${suppressed ? ` (${suppressed} more since the last report)` : ''}`);
    suppressed = 0;
  };
  const ignore = () => {};
  return {
    logger: { error: (message: string, ...args: unknown[]) => note(message, args), warn: (message: string, ...args: unknown[]) => note(message, args), info: ignore, debug: ignore, verbose: ignore },
    reportTo: (next: (message: string) => void) => {
      report = next;
    },
  };
}
