/**
 * The one piece of tracing on the request path: code that wants a span of its own (client
 * authentication) calls `inSpan`. Without tracing it is a plain call; the OpenTelemetry code is only
 * loaded, and only plugs itself in here, when `tracing.enabled` is set.
 */

/** What a span lets its code add: attributes that name no secret (ids, methods, outcomes). */
export interface SpanAttributes {
  setAttribute(key: string, value: string | number | boolean): unknown;
}

export type SpanRunner = <T>(name: string, fn: (span: SpanAttributes) => Promise<T>) => Promise<T>;

let runner: SpanRunner | undefined;

export function useSpanRunner(next: SpanRunner | undefined): void {
  runner = next;
}

/** Runs `fn` in a child span of the current one when tracing is on; `span` is undefined otherwise. */
export function inSpan<T>(name: string, fn: (span: SpanAttributes | undefined) => Promise<T>): Promise<T> {
  return runner === undefined ? fn(undefined) : runner(name, fn);
}
