import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IMAGE_ALLOCATOR_ENV, IMAGE_NODE_FLAGS } from '../../test/helpers/image-env.js';
import { stringify } from 'yaml';
import type { BenchPki } from './pki.js';
import { freePort } from '../../test/helpers/ports.js';
import { httpOk, spawnServer, type ServerProcess } from './server-process.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Runtime = 'dist' | 'tsx';
export type SigningAlg = 'ES256' | 'PS256';

export interface GatewayUnderTest {
  server: ServerProcess;
  /** The issuer and public (browser-facing) listener. */
  issuer: string;
  /** The mTLS listener (PAR, token). */
  mtlsBase: string;
  /** The ops listener (plain HTTP on loopback): /healthz, /readyz, /metrics. */
  opsBase: string;
  configFile: string;
}

export interface GatewayStartOptions {
  /** `dist`: compiled `dist/main.js` (run `npm run build` first); `tsx`: `src/main.ts` through tsx. */
  runtime: Runtime;
  /** The algorithm tokens are signed with (the embedded dev keys hold one ES256 and one PS256 key). */
  alg: SigningAlg;
  /** The checkout to run (default: this one); e.g. an exported older commit, built, to compare with. */
  root?: string;
  /** Folder for a V8 CPU profile of the gateway (`node --cpu-prof`), written when it stops. */
  cpuProfDir?: string;
  /** The gateway's log level (default warn: no per-request line). */
  logLevel?: 'warn' | 'info';
  /** `metrics.enabled` (default: left to the config, i.e. on). */
  metrics?: boolean;
  /** Resource routes (default: the embedded config's, pointing at the sample bank the bench does not start). */
  routes?: Record<string, unknown>[];
  /**
   * The config's `store` (default: the embedded config's, the memory store), e.g.
   * `{ type: 'redis', url, keyPrefix }`. When given, start-up waits for `/readyz` (the store answers).
   */
  store?: Record<string, unknown>;
  /** Further top-level config keys (e.g. `admission`), set as given. */
  config?: Record<string, unknown>;
  /** Further environment of the gateway process (e.g. UV_THREADPOOL_SIZE, MALLOC_ARENA_MAX); default: the image's allocator settings. */
  env?: Record<string, string>;
  /** Changes the config last (after every option above), e.g. a profile's clients and users. */
  configure?: (config: Record<string, any>) => void;
  /** Flags for `node` itself, before the entry point (e.g. V8's `--max-semi-space-size=4`); default: the image's. */
  nodeArgs?: string[];
}

/** Starts fapi-gateway in a child process on the embedded config: loopback ports, the bench PKI, log level warn (unless asked otherwise). */
export async function startGateway(pki: BenchPki, options: GatewayStartOptions): Promise<GatewayUnderTest> {
  const root = options.root ?? REPO_ROOT;
  const dist = options.runtime === 'dist';
  if (dist && !existsSync(path.join(root, 'dist/main.js')))
    throw new Error(`${path.join(root, 'dist/main.js')} is missing: run \`npm run build\` first (or pass --runtime tsx)`);
  // The config comes from the build that runs, so it always fits that build's schema.
  const embedded = path.join(root, dist ? 'dist/config/embedded.js' : 'src/config/embedded.ts');
  const { embeddedConfig } = (await import(pathToFileURL(embedded).href)) as typeof import('../../src/config/embedded.js');

  const [pub, mtls, ops] = [await freePort(), await freePort(), await freePort()];
  const config = await embeddedConfig(pki.pki);
  config.issuer = `https://localhost:${pub}`;
  config.listeners = {
    public: { host: '127.0.0.1', port: pub },
    mtls: { host: '127.0.0.1', port: mtls, url: `https://localhost:${mtls}` },
    ops: { host: '127.0.0.1', port: ops },
  };
  const logLevel = options.logLevel ?? 'warn';
  config.log = { level: logLevel };
  // Only when asked: an older build (--gateway-root) may not know the key.
  if (options.metrics !== undefined) config.metrics = { enabled: options.metrics };
  if (options.routes) config.routes = options.routes;
  if (options.store) config.store = options.store;
  Object.assign(config, options.config);
  config.keys = { signing: pki.pki.signingKeys, active: [`dev-${options.alg.toLowerCase()}-1`] };
  options.configure?.(config);
  const storeType = options.store ? String(options.store.type) : undefined;
  const configFile = path.join(pki.dir, storeType ? `gateway-${storeType}.yaml` : 'gateway.yaml');
  await writeFile(configFile, stringify(config));

  const entry = dist ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  const profiling = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
  const server = await spawnServer({
    name: storeType ? `fapi-gateway (${storeType})` : 'fapi-gateway',
    // Run as the image runs it (its node flags and allocator settings) unless told otherwise: what is
    // measured is what is deployed.
    nodeArgs: [...profiling, ...(options.nodeArgs ?? IMAGE_NODE_FLAGS), ...entry, '--config', configFile],
    cwd: root,
    env: { NODE_ENV: 'production', FAPI_GATEWAY_LOG_LEVEL: logLevel, ...(options.env ?? IMAGE_ALLOCATOR_ENV) },
    ready: () => httpOk(`http://127.0.0.1:${ops}/${storeType ? 'readyz' : 'healthz'}`),
  });
  return { server, issuer: config.issuer as string, mtlsBase: `https://localhost:${mtls}`, opsBase: `http://127.0.0.1:${ops}`, configFile };
}
