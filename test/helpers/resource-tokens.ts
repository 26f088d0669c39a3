import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { newGrantId, type Grant } from '../../src/grants/grant.js';
import { issueAccessToken } from '../../src/tokens/access-token.js';
import { sampleBank } from '../../src/sample-bank/server.js';
import type { Harness } from './harness.js';

/**
 * A grant written straight into the gateway's context (as an ecosystem pack's consent or arrangement
 * step leaves it) and an access token of it bound to client-one's certificate.
 */
export async function grantToken(h: Harness, input: { scope: string; extensions?: Record<string, unknown>; expiresAt?: number; sub?: string }): Promise<{ token: string; grant: Grant }> {
  const ctx = h.gateway.context;
  const client = (await ctx.clients.get('client-one'))!;
  const now = Math.floor(Date.now() / 1000);
  const grant: Grant = {
    id: newGrantId(),
    clientId: client.id,
    sub: input.sub ?? 'alice-7f3c',
    scope: input.scope,
    createdAt: now,
    expiresAt: input.expiresAt ?? now + 3600,
    extensions: input.extensions ?? {},
  };
  await ctx.grants.save(grant);
  const der = new X509Certificate(await readFile(h.pki.clients['client-one'].cert)).raw;
  const certificateThumbprint = createHash('sha256').update(der).digest('base64url');
  const { token } = await issueAccessToken(ctx, { grant, client, scope: input.scope, certificateThumbprint });
  return { token, grant };
}

/** The sample bank listening on loopback, as a real upstream. */
export async function startSampleBank(): Promise<{ url: string; app: FastifyInstance }> {
  const app = sampleBank();
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}
