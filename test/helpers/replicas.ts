import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { DevPki } from '../../src/devpki/dev-pki.js';
import { spawnGateway, type GatewayProcess } from './gateway-process.js';
import { connectHarness, readResponse, testConfig, type Harness } from './harness.js';

/**
 * A harness for one replica of a deployment: requests go to this replica's own listeners, while
 * client assertions name the deployment's issuer (the one `issuer` every replica is configured
 * with, as behind a load balancer).
 */
export interface ReplicaHarness extends Harness {
  name: string;
  /** The deployment's issuer identifier (the `aud` of client assertions, the `iss` of tokens). */
  sharedIssuer: string;
  /** This replica's ops listener (healthz, readyz, metrics), plain HTTP. */
  opsBase: string;
}

export interface Replica {
  name: string;
  config: Record<string, any>;
  process: GatewayProcess;
  h: ReplicaHarness;
}

/**
 * Configs for `count` replicas of one deployment: each listens on its own free loopback ports, all
 * share the first one's issuer and mTLS URL (so tokens and assertions are valid on every replica),
 * the signing keys and PKI of `pki`, and `store`.
 */
export async function replicaConfigs(pki: DevPki, count: number, store: Record<string, unknown>): Promise<Record<string, any>[]> {
  const configs: Record<string, any>[] = [];
  for (let i = 0; i < count; i++) {
    const config = await testConfig(pki);
    config.store = store;
    config.log = { level: 'warn' };
    if (i > 0) {
      config.issuer = configs[0].issuer;
      config.listeners.mtls.url = configs[0].listeners.mtls.url;
    }
    configs.push(config);
  }
  return configs;
}

/** A harness that drives the replica listening as `config` says. */
export async function replicaHarness(pki: DevPki, config: Record<string, any>, name: string): Promise<ReplicaHarness> {
  const { public: pub, mtls, ops } = config.listeners;
  const sharedIssuer = config.issuer as string;
  // The harness takes its browser base from `issuer`: give it this replica's public listener.
  const raw = await connectHarness({ pki, issuer: `https://localhost:${pub.port}`, mtlsBase: `https://localhost:${mtls.port}` });
  const assertion: Harness['assertion'] = (claims = {}, options) => raw.assertion({ aud: sharedIssuer, ...claims }, options);
  return {
    ...raw,
    name,
    sharedIssuer,
    opsBase: `http://${ops.host}:${ops.port}`,
    assertion,
    async assertionForm(claims = {}) {
      return { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(claims) };
    },
  };
}

/**
 * Starts one gateway process per config (in parallel) and connects a harness to each. When one fails
 * to start, the others are stopped before the error is thrown, so nothing is left running.
 */
export async function startReplicas(pki: DevPki, configs: Record<string, any>[], names = ['A', 'B', 'C', 'D']): Promise<Replica[]> {
  const started = await Promise.allSettled(
    configs.map(async (config, i) => {
      const name = names[i] ?? `R${i}`;
      const process = await spawnGateway(config);
      return { name, config, process, h: await replicaHarness(pki, config, name) };
    }),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return started.map((s) => (s as PromiseFulfilledResult<Replica>).value);
  await Promise.all(
    started.map(async (s) => {
      if (s.status !== 'fulfilled') return;
      await s.value.h.close();
      await s.value.process.stop('SIGKILL');
    }),
  );
  throw failed.reason;
}

/** GET on a replica's ops listener: status and parsed body. */
export async function opsGet(h: { opsBase: string }, path: string): Promise<{ status: number; json: any }> {
  const { status, json } = await readResponse(await request(h.opsBase + path, { headersTimeout: 3_000, bodyTimeout: 3_000 }));
  return { status, json };
}

/** How many store operations of this kind a replica has made (its store histogram's count). */
export async function storeOperations(h: { opsBase: string }, operation: string): Promise<number> {
  const { body } = await request(`${h.opsBase}/metrics`, { headersTimeout: 3_000, bodyTimeout: 3_000 });
  const line = (await body.text()).split('\n').find((l) => l.startsWith(`fapi_gateway_store_operation_duration_seconds_count{operation="${operation}",backend="redis"}`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined, or `ms` pass;
 * resolves with that value (undefined on timeout) and the time it took.
 */
export async function pollUntil<T>(check: () => Promise<T | undefined>, ms: number, intervalMs = 50): Promise<{ value: T | undefined; elapsedMs: number }> {
  const start = performance.now();
  for (;;) {
    const value = await check();
    const elapsedMs = performance.now() - start;
    if (value !== undefined || elapsedMs >= ms) return { value, elapsedMs };
    await sleep(intervalMs);
  }
}

/** Runs `task(0..count-1)` with at most `concurrency` in flight; resolves with the results in order. */
export async function mapConcurrent<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
