import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { RegisteredClientRecord } from '../clients/registered-clients.js';
import { ConfigError } from '../config/config-error.js';
import type { GatewayContext } from '../context.js';

export const CLIENTS_USAGE = `  fapi-gateway clients list --config FILE          the config's and the registered clients
  fapi-gateway clients show ID --config FILE       one client's metadata (never its credentials)
  fapi-gateway clients add FILE --config FILE      register a client from a YAML/JSON metadata file, checked as the config's
  fapi-gateway clients remove ID --config FILE     delete a registered client; its tokens end at once`;

/**
 * The operators' way to manage registered clients, on the configured store (no HTTP admin surface).
 * Writes what it did to `out`; returns the exit status.
 */
export async function clientsCommand(ctx: GatewayContext, args: string[], out: (line: string) => void): Promise<number> {
  const [action, argument] = args;
  // A memory store lives in one process: this command would change its own, not the gateway's.
  if (ctx.config.store.type === 'memory') throw new ConfigError('store', 'the clients command acts on a shared store: configure store.type redis');
  await storeReady(ctx);
  const { registrations, clients, store } = ctx;
  switch (action) {
    case 'list': {
      for (const client of clients.all()) out(`${client.id}\tconfig\t${client.authMethod}\t${client.metadata.scope}`);
      for (const id of (await store.members('registered-clients')).sort()) {
        const record = await store.get<RegisteredClientRecord>('client', id);
        if (record) out(`${id}\t${record.registration.source}\t${record.metadata.token_endpoint_auth_method}\t${record.metadata.scope}${record.registration.softwareId ? `\tsoftware_id=${record.registration.softwareId}` : ''}`);
      }
      return 0;
    }
    case 'show': {
      if (!argument) throw new ConfigError('clients show', 'needs a client id');
      const configured = clients.isConfigured(argument) ? await clients.get(argument) : undefined;
      if (configured) {
        out(JSON.stringify({ source: 'config', metadata: configured.metadata }, null, 2));
        return 0;
      }
      const record = await store.get<RegisteredClientRecord>('client', argument);
      if (!record) return notFound(argument, out);
      const { accessTokenHash: _hash, certificateThumbprint: _bound, ...registration } = record.registration;
      out(JSON.stringify({ metadata: record.metadata, registration }, null, 2));
      return 0;
    }
    case 'add': {
      if (!argument) throw new ConfigError('clients add', 'needs a metadata file');
      let metadata: unknown;
      try {
        metadata = parse(await readFile(argument, 'utf8'));
      } catch (err) {
        throw new ConfigError(argument, `cannot read client metadata: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]}`);
      }
      const record = await registrations.addByOperator(metadata);
      out(`added ${record.metadata.client_id}`);
      return 0;
    }
    case 'remove': {
      if (!argument) throw new ConfigError('clients remove', 'needs a client id');
      if (clients.isConfigured(argument)) throw new ConfigError('clients remove', `"${argument}" is a client of the config file: remove it there`);
      const record = await registrations.remove(argument);
      if (!record) return notFound(argument, out);
      out(`removed ${argument}`);
      return 0;
    }
    default:
      throw new ConfigError('clients', `unknown action "${action ?? ''}" (list, show ID, add FILE, remove ID)`);
  }
}

/** The store connects in the background (the gateway starts without it); a one-shot command waits for it, a few seconds at most. */
export async function storeReady(ctx: GatewayContext): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await ctx.store.ping();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function notFound(id: string, out: (line: string) => void): number {
  out(`no client "${id}"`);
  return 1;
}
