import type { Pool } from 'undici';
import { gatewayTarget, type FlowTarget } from './flow-targets.js';
import type { Runtime } from './gateway.js';
import { httpPool, httpsPool } from './http.js';
import { flowMaterial } from './oauth-client.js';
import type { BenchPki } from './pki.js';
import { startBareProxy, type ResourceServer } from './resource-servers.js';
import type { ServerProcess } from './server-process.js';
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { presignAssertions } from './oauth-client.js';
import { derivedProfile } from '../../test/helpers/derived-profile.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

// (f): what a CDR call carries besides its token; the route negotiates x-v and checks the rest.
const CDR_HEADERS = { 'x-v': '2', 'x-min-v': '1', 'x-fapi-auth-date': 'Sun, 10 Sep 2017 19:43:31 GMT', 'x-fapi-interaction-id': 'bench-cdr' };

/** What bench/gateway.ts compares: (a) the upstream, (b) the bare proxy, (c) the gateway, (d) without metrics, (c') logging every request. */
export const TARGETS = {
  upstream: '(a) upstream direct',
  bare: '(b) bare mTLS proxy',
  gateway: '(c) gateway, warn, metrics on',
  'gateway-no-metrics': '(d) gateway, warn, metrics off',
  'gateway-info': "(c') gateway, info, metrics on",
  'gateway-dpop': '(e) gateway, DPoP-bound token, warn, metrics on',
  'gateway-cdr': '(f) gateway, CDR conventions on the route, warn, metrics on',
  'gateway-tracing': '(g) gateway, tracing every request (OTLP to a local sink), warn, metrics on',
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
  /** Untimed, before each run of `count` requests: what every request needs of its own (DPoP proofs, signed ahead). */
  prepare?(count: number, path: string): Promise<void>;
  /** The headers of one request, when each needs its own (the DPoP proof); `headers()`' otherwise. */
  requestHeaders?(): Record<string, string>;
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
    routes: [
      {
        prefix: '/accounts',
        upstream: ctx.upstream.origin,
        scopes: ['accounts'],
        methods: ['GET'],
        timeoutMs: 10_000,
        ...(kind === 'gateway-cdr' ? { ecosystem: { versions: [1, 2] } } : {}),
      },
    ],
    ...(kind === 'gateway-cdr' ? { config: { profile: await derivedProfile({ name: 'fapi2-cdr-bench', ecosystem: 'cdr' }) } } : {}),
    ...(kind === 'gateway-tracing' ? { config: { tracing: { enabled: true, endpoint: await otlpSink(), sampleRatio: 1 } } } : {}),
  });
  if (kind === 'gateway-dpop') return dpopTarget(kind, target, pki, mtlsPool(target.mtlsBase));
  return {
    kind,
    proxy: target.server,
    pool: mtlsPool(target.mtlsBase),
    async headers() {
      // PAR → authorization → token: an access token bound to client-one's certificate, fresh for each window (it lives 300 s).
      const [material] = await flowMaterial(pki.clientOne.jwk, target.audience, 1);
      const { token } = await target.login(material);
      ctx.tokens.last = token;
      return kind === 'gateway-cdr' ? { ...bearer(token), ...CDR_HEADERS } : bearer(token);
    },
    close: () => target.close(),
  };
}

/**
 * (e): the same gateway and connection (mutual TLS with client-one's certificate, unused by the
 * token), with a DPoP-bound access token (client credentials with a proof) and a fresh proof per
 * request, signed before each timed run: the difference to (c) is the proof's check and its jti.
 */
async function dpopTarget(kind: TargetKind, target: FlowTarget, pki: BenchPki, pool: (connections: number) => Pool): Promise<ResourceTarget> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = await exportJWK(publicKey);
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(privateKey);
  let token = '';
  let proofs: string[] = [];
  return {
    kind,
    proxy: target.server,
    pool,
    async headers() {
      const [assertion] = await presignAssertions(pki.clientOne.jwk, target.audience, 1);
      const tokenPool = pool(1);
      try {
        const res = await tokenPool.request({
          method: 'POST',
          path: '/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await sign({ htm: 'POST', htu: `${target.mtlsBase}/token` }) },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'accounts', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
        });
        const body = (await res.body.json()) as { access_token?: string; token_type?: string };
        if (res.statusCode !== 200 || body.token_type !== 'DPoP') throw new Error(`DPoP token: ${res.statusCode} ${JSON.stringify(body)}`);
        token = body.access_token!;
      } finally {
        await tokenPool.close();
      }
      return { authorization: `DPoP ${token}` };
    },
    async prepare(count, path) {
      const ath = createHash('sha256').update(token).digest('base64url');
      proofs = [];
      for (let i = 0; i < count; i++) proofs.push(await sign({ htm: 'GET', htu: `${target.mtlsBase}${path}`, ath }));
    },
    requestHeaders() {
      return { authorization: `DPoP ${token}`, dpop: proofs.pop() ?? 'none-left' };
    },
    close: () => target.close(),
  };
}

let sink: Promise<string> | undefined;

/** (g)'s collector: an OTLP/HTTP endpoint in the bench process that reads and drops every export. */
function otlpSink(): Promise<string> {
  sink ??= new Promise((resolve) => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
    });
    server.unref();
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`));
  });
  return sink;
}
