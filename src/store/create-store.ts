import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config-error.js';
import type { StoreConfig } from '../config/schema.js';
import { MemoryStore } from './memory.js';
import type { Store } from './store.js';

/**
 * Builds the configured store. It does not wait for Redis: the gateway starts while Redis is down,
 * fails closed until it returns, and readiness (`ping`) keeps traffic away meanwhile.
 */
export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.type === 'memory') return new MemoryStore({ maxEntries: config.maxEntries, maxBytes: config.maxBytes });
  if (config.sentinel && config.cluster) throw new ConfigError('store', 'sentinel and cluster exclude each other');
  const tls = config.tls ? { ca: await readCa(config.tls.ca) } : undefined;
  if (tls && !config.url.startsWith('rediss://')) throw new ConfigError('store.tls', 'needs a rediss:// url');
  // ioredis is imported only for a Redis store: the memory store's gateway would hold it for nothing.
  const { RedisStore } = await import('./redis.js');
  try {
    return new RedisStore({ url: config.url, keyPrefix: config.keyPrefix, tls, sentinel: config.sentinel, cluster: config.cluster });
  } catch (err) {
    throw new ConfigError('store.url', (err as Error).message); // never echo the url: it may hold a password
  }
}

async function readCa(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ConfigError('store.tls.ca', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
