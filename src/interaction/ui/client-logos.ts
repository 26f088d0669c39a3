import { readFileSync } from 'node:fs';
import { BlockList } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { Client } from '../../clients/client.js';
import type { UiSettings } from '../../config/schema.js';
import { outboundFetch, type OutboundFetch } from '../../http/outbound-fetch.js';

export interface Logo {
  body: Buffer;
  type: string;
}

const KEEP_SECONDS = 3600;
const RETRY_FAILED_SECONDS = 300;
const MAX_CACHED = 1000;
/** All logos kept together, whatever maxBytes allows each. */
const MAX_CACHED_BYTES = 16 * 1024 * 1024;

/** Raster images only, told by their first bytes (an SVG could carry script to whoever opens its URL). */
function imageType(body: Buffer): string | undefined {
  if (body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return 'image/jpeg';
  if (body.subarray(0, 6).toString('latin1') === 'GIF87a' || body.subarray(0, 6).toString('latin1') === 'GIF89a') return 'image/gif';
  if (body.subarray(0, 4).toString('latin1') === 'RIFF' && body.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Clients' logos (`logo_uri`), fetched by the gateway (never by the customer's browser: the pages'
 * CSP allows images from the gateway only) through the guarded outbound fetch, size-limited,
 * checked to be a raster image, and kept in memory for an hour (a failure for five minutes). One
 * fetch per client at a time; the cache holds at most MAX_CACHED clients.
 */
export class ClientLogos {
  readonly #fetch: OutboundFetch | undefined;
  readonly #cache = new Map<string, { uri: string; logo: Logo | undefined; until: number }>();
  readonly #pending = new Map<string, Promise<Logo | undefined>>();
  #cachedBytes = 0;

  constructor(settings: UiSettings['clientLogos']) {
    if (!settings.enabled) return;
    const allowedPrivate = new BlockList();
    if (settings.allowPrivateAddresses) {
      allowedPrivate.addSubnet('0.0.0.0', 0, 'ipv4');
      allowedPrivate.addSubnet('::', 0, 'ipv6');
    }
    this.#fetch = outboundFetch({
      maxBytes: settings.maxBytes,
      timeoutMs: settings.timeoutMs,
      allowedPrivate,
      ...(settings.ca ? { tls: { ca: readFileSync(settings.ca) } } : {}),
    });
  }

  /** The path a page links the client's logo at, when it has one that could be fetched. */
  async pathFor(client: Client, log?: FastifyBaseLogger): Promise<string | undefined> {
    return (await this.get(client, log)) ? `/assets/clients/${encodeURIComponent(client.id)}/logo` : undefined;
  }

  async get(client: Client, log?: FastifyBaseLogger): Promise<Logo | undefined> {
    const uri = client.metadata.logo_uri;
    if (!this.#fetch || !uri || !uri.startsWith('https://')) return undefined;
    const now = Date.now() / 1000;
    const cached = this.#cache.get(client.id);
    if (cached && cached.uri === uri && cached.until > now) return cached.logo;
    const pending = this.#pending.get(client.id);
    if (pending) return pending;
    const fetching = this.#load(client.id, uri, log).finally(() => this.#pending.delete(client.id));
    this.#pending.set(client.id, fetching);
    return fetching;
  }

  async #load(clientId: string, uri: string, log?: FastifyBaseLogger): Promise<Logo | undefined> {
    let logo: Logo | undefined;
    try {
      const res = await this.#fetch!(uri, { headers: { accept: 'image/png, image/jpeg, image/webp, image/gif' } });
      const body = Buffer.from(await res.arrayBuffer());
      const type = res.status === 200 ? imageType(body) : undefined;
      if (type) logo = { body, type };
      else log?.warn({ event: 'client_logo_refused', client_id: clientId, status: res.status }, 'the client logo is not a PNG, JPEG, GIF or WebP image');
    } catch (err) {
      log?.warn({ event: 'client_logo_failed', client_id: clientId, reason: (err as Error).message }, 'the client logo could not be fetched');
    }
    this.#forget(clientId);
    const size = logo?.body.length ?? 0;
    // The oldest go first, until both bounds hold.
    while (this.#cache.size && (this.#cache.size >= MAX_CACHED || this.#cachedBytes + size > MAX_CACHED_BYTES)) this.#forget(this.#cache.keys().next().value!);
    this.#cache.set(clientId, { uri, logo, until: Date.now() / 1000 + (logo ? KEEP_SECONDS : RETRY_FAILED_SECONDS) });
    this.#cachedBytes += size;
    return logo;
  }

  #forget(clientId: string): void {
    const entry = this.#cache.get(clientId);
    if (!entry) return;
    this.#cachedBytes -= entry.logo?.body.length ?? 0;
    this.#cache.delete(clientId);
  }
}
