declare module 'parse-prometheus-text-format' {
  /** Parses Prometheus text exposition format; throws on malformed input. */
  export default function parsePrometheusTextFormat(text: string): { name: string; help: string; type: string; metrics: unknown[] }[];
}
