import type { Pool } from 'undici';
import { gatewayTarget, type FlowTarget } from './flow-targets.js';
import type { Runtime } from './gateway.js';
import { httpPool, httpsPool } from './http.js';
import { flowMaterial } from './oauth-client.js';
import type { BenchPki } from './pki.js';
import { startBareProxy, type ResourceServer } from './resource-servers.js';
import type { ServerProcess } from './server-process.js';

/** What bench/gateway.ts compares: (a) the upstream, (b) the bare proxy, (c) the gateway, (d) without metrics, (c') logging every request. */
export const TARGETS = {
  upstream: '(a) upstream direct',
  bare: '(b) bare mTLS proxy',
  gateway: '(c) gateway, warn, metrics on',
  'gateway-no-metrics': '(d) gateway, warn, metrics off',
  'gateway-info': "(c') gateway, info, metrics on",
} as const;
export type TargetKind = keyof typeof TARGETS;

export interface ResourceTarget {
  kind: TargetKind;
  /** The process in front of the upstream; none when the upstream is called directly. */
  proxy?: ServerProcess;
  /** A keep-alive pool with `connections` connections (mutual TLS with client-one's certificate, except to the upstream). */
  pool(connections: number): Pool;
  /** The headers of every request of one timed window; a gateway's carry a bound access token obtained now (untimed). */
  headers(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface TargetContext {
  pki: BenchPki;
  upstream: ResourceServer;
  runtime: Runtime;
  root?: string;
  cpuProfDir?: string;
  /** The last access token obtained: (a) and (b) send it too, so every target gets the same request bytes. */
  tokens: { last?: string };
}

// Until a gateway has issued one: about the size of the gateway's ES256 access tokens.
const PLACEHOLDER_TOKEN = 'x'.repeat(700);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function startTarget(kind: TargetKind, ctx: TargetContext): Promise<ResourceTarget> {
  const { pki } = ctx;
  const mtlsPool = (origin: string) => (connections: number) => httpsPool(origin, { ca: pki.ca, client: pki.clientOne, connections });
  const replay = async () => bearer(ctx.tokens.last ?? PLACEHOLDER_TOKEN);
  if (kind === 'upstream')
    return { kind, pool: (connections) => httpPool(ctx.upstream.origin, connections), headers: replay, close: async () => {} };
  if (kind === 'bare') {
    const bare = await startBareProxy(pki, ctx.upstream.origin, ctx.cpuProfDir);
    return { kind, proxy: bare.server, pool: mtlsPool(bare.origin), headers: replay, close: () => bare.server.stop() };
  }
  const target: FlowTarget = await gatewayTarget(pki, {
    runtime: ctx.runtime,
    root: ctx.root,
    alg: 'ES256',
    cpuProfDir: ctx.cpuProfDir,
    concurrency: 1,
    logLevel: kind === 'gateway-info' ? 'info' : 'warn',
    metrics: kind !== 'gateway-no-metrics',
    routes: [{ prefix: '/accounts', upstream: ctx.upstream.origin, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000 }],
  });
  return {
    kind,
    proxy: target.server,
    pool: mtlsPool(target.mtlsBase),
    async headers() {
      // PAR → authorization → token: an access token bound to client-one's certificate, fresh for each window (it lives 300 s).
      const [material] = await flowMaterial(pki.clientOne.jwk, target.audience, 1);
      const { token } = await target.login(material);
      ctx.tokens.last = token;
      return bearer(token);
    },
    close: () => target.close(),
  };
}
