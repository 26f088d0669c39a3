import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BareProxySettings } from '../bare-proxy.js';
import { REPO_ROOT } from './gateway.js';
import type { BenchPki } from './pki.js';
import { freePort } from '../../test/helpers/ports.js';
import { spawnServer, type ServerProcess } from './server-process.js';

/** A server of bench/gateway.ts in its own process, with the origin it answers on. */
export interface ResourceServer {
  server: ServerProcess;
  origin: string;
}

const profiling = (cpuProfDir?: string) => (cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []);

/** Starts bench/upstream.ts (plain HTTP on loopback, one small JSON body for everything). */
export async function startUpstream(): Promise<ResourceServer> {
  const port = await freePort();
  const server = await spawnServer({
    name: 'upstream',
    nodeArgs: ['--import', 'tsx', 'bench/upstream.ts', String(port)],
    cwd: REPO_ROOT,
    env: { NODE_ENV: 'production' },
    ready: async (output) => output.includes('listening on'),
  });
  return { server, origin: `http://127.0.0.1:${port}` };
}

/** Starts bench/bare-proxy.ts: mutual TLS with the bench PKI's server certificate, forwarding to `upstream`. */
export async function startBareProxy(pki: BenchPki, upstream: string, cpuProfDir?: string): Promise<ResourceServer> {
  const port = await freePort();
  const settings: BareProxySettings = { port, upstream, serverCert: pki.pki.serverCert, serverKey: pki.pki.serverKey, clientCa: pki.pki.ca };
  const file = path.join(pki.dir, 'bare-proxy.json');
  await writeFile(file, JSON.stringify(settings));
  const server = await spawnServer({
    name: 'bare-proxy',
    nodeArgs: [...profiling(cpuProfDir), '--import', 'tsx', 'bench/bare-proxy.ts', file],
    cwd: REPO_ROOT,
    env: { NODE_ENV: 'production' },
    ready: async (output) => output.includes('listening on'),
  });
  return { server, origin: `https://localhost:${port}` };
}
