import type { FastifyPluginCallback } from 'fastify';
import { ConfigError } from '../../config/config-error.js';
import type { ConfigFile } from '../../config/schema.js';
import type { Store } from '../../store/store.js';

export type TracingSettings = ConfigFile['tracing'];

/** Tracing while it runs: what the gateway plugs in where spans are made. */
export interface Tracing {
  /** Registered on a listener before its routes: a span per request (Fastify's lifecycle), the interaction id on it. */
  fastifyPlugin: FastifyPluginCallback;
  /** The store, with a span per operation (the operation and record kind, never a record's id or value). */
  traceStore(store: Store, backend: string): Store;
  /** Where OpenTelemetry's own problems (exports failing) are reported, at most one a minute. */
  reportProblemsTo(log: (message: string) => void): void;
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

export const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof PROTOCOLS)[number];

let active: Tracing | undefined;
let starting: Promise<Tracing> | undefined;

/** The exporter's protocol: the config's, else OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
export function otlpProtocol(settings: TracingSettings, env: NodeJS.ProcessEnv = process.env): OtlpProtocol {
  if (settings.protocol) return settings.protocol;
  const fromEnv = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (fromEnv === undefined) return 'http/protobuf';
  if ((PROTOCOLS as readonly string[]).includes(fromEnv)) return fromEnv as OtlpProtocol;
  throw new ConfigError('tracing.protocol', `the protocol "${fromEnv}" (from OTEL_EXPORTER_OTLP_PROTOCOL) is not supported: use ${PROTOCOLS.join(' or ')}`);
}

/** Fails at start on settings tracing could not run with (only when it is enabled). */
export function checkTracingSettings(settings: TracingSettings, env: NodeJS.ProcessEnv = process.env): void {
  if (!settings.enabled) return;
  otlpProtocol(settings, env);
  if (settings.endpoint === undefined) return;
  let url: URL;
  try {
    url = new URL(settings.endpoint);
  } catch {
    throw new ConfigError('tracing.endpoint', `"${settings.endpoint}" is not a URL (e.g. http://otel-collector:4318/v1/traces)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('tracing.endpoint', 'must be an http:// or https:// URL');
  // Credentials in a URL end up in logs; the exporter takes them as headers.
  if (url.username || url.password) throw new ConfigError('tracing.endpoint', 'must not carry credentials: give them in OTEL_EXPORTER_OTLP_HEADERS');
}

/**
 * Starts tracing when the settings enable it; nothing of OpenTelemetry is loaded otherwise. Started
 * once per process (the tracer provider is global). To trace the Redis client's commands too, call it
 * before anything imports `ioredis`.
 */
export async function startTracing(settings: TracingSettings): Promise<Tracing | undefined> {
  if (!settings.enabled) return undefined;
  checkTracingSettings(settings);
  starting ??= import('./sdk.js').then(async ({ startSdk }) => (active = await startSdk(settings)));
  return starting;
}

/** Tracing as started by `startTracing`, if it was. */
export function activeTracing(): Tracing | undefined {
  return active;
}

export async function stopTracing(): Promise<void> {
  const tracing = active;
  active = undefined;
  starting = undefined;
  await tracing?.shutdown();
}
