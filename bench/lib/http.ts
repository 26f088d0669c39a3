import { Pool } from 'undici';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface PoolOptions {
  ca: Buffer;
  /** A client certificate and key for mutual TLS; none for a browser-like connection. */
  client?: { cert: Buffer; key: Buffer };
  /** Kept-alive connections in the pool: one per concurrent request. */
  connections: number;
}

/** A keep-alive connection pool to one https origin, trusting the bench CA. */
export function httpsPool(origin: string, options: PoolOptions): Pool {
  return new Pool(origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: { ca: options.ca, servername: 'localhost', ...options.client },
  });
}

/** A keep-alive connection pool to one plain-http origin (loopback services behind the gateway). */
export function httpPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

export async function send(
  pool: Pool,
  request: { method: 'GET' | 'POST'; path: string; form?: string; json?: string; cookie?: string; headers?: Record<string, string> },
): Promise<Reply> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (request.json !== undefined) headers['content-type'] = 'application/json';
  if (request.cookie) headers.cookie = request.cookie;
  const res = await pool.request({ method: request.method, path: request.path, headers, body: request.form ?? request.json });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Throws (with the status and the start of the body) unless the reply has `status`. */
export function expectStatus(reply: Reply, status: number, step: string): Reply {
  if (reply.status !== status) throw new Error(`${step}: HTTP ${reply.status} ${reply.text.slice(0, 160).replace(/\s+/g, ' ')}`);
  return reply;
}

export function header(reply: Reply, name: string): string | undefined {
  const value = reply.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A browser's cookies for one origin: kept by name and path (expiry is not tracked; an emptied cookie is dropped). */
export class CookieJar {
  readonly #cookies = new Map<string, { value: string; path: string }>();
  take(reply: Reply): void {
    for (const line of [reply.headers['set-cookie'] ?? []].flat()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path = attributes.map((a) => /^\s*path=(.*)$/i.exec(a)?.[1].trim()).find(Boolean) ?? '/';
      // An emptied cookie is how a server deletes it.
      if (value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, { value, path });
    }
  }
  /** The Cookie header for a request to `requestPath`. */
  header(requestPath: string): string {
    const sent: string[] = [];
    for (const [name, { value, path }] of this.#cookies) if (requestPath.startsWith(path)) sent.push(`${name}=${value}`);
    return sent.join('; ');
  }
}
