import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEMO_REDIRECT_URI } from '../../src/config/embedded.js';
import type { OidcProviderSettings } from '../oidc-provider-server.js';
import { REPO_ROOT, type SigningAlg } from './gateway.js';
import type { BenchPki } from './pki.js';
import { freePort } from '../../test/helpers/ports.js';
import { spawnServer, type ServerProcess } from './server-process.js';

export interface OidcProviderUnderTest {
  server: ServerProcess;
  issuer: string;
}

/** Starts bench/oidc-provider-server.ts in a child process with the bench PKI's keys and client-one. */
export async function startOidcProvider(pki: BenchPki, options: { alg: SigningAlg; sub: string; cpuProfDir?: string; nodeArgs?: string[] }): Promise<OidcProviderUnderTest> {
  const port = await freePort();
  const issuer = `https://localhost:${port}`;
  const settings: OidcProviderSettings = {
    port,
    issuer,
    serverCert: pki.pki.serverCert,
    serverKey: pki.pki.serverKey,
    signingKeys: pki.pki.signingKeys,
    alg: options.alg,
    client: { client_id: 'client-one', redirect_uri: DEMO_REDIRECT_URI, jwk: pki.clientOne.publicJwk as Record<string, unknown> },
    sub: options.sub,
  };
  const file = path.join(pki.dir, 'oidc-provider.json');
  await writeFile(file, JSON.stringify(settings));
  const profiling = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
  const server = await spawnServer({
    name: 'oidc-provider',
    nodeArgs: [...profiling, ...(options.nodeArgs ?? []), '--import', 'tsx', 'bench/oidc-provider-server.ts', file],
    cwd: REPO_ROOT,
    env: { NODE_ENV: 'production' },
    ready: async (output) => output.includes('listening on'),
  });
  return { server, issuer };
}
