import { connect, type ConnectionOptions } from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
}

export interface RawExchange {
  responses: RawResponse[];
  /** Bytes after the last response that do not parse as one. */
  trailing: Buffer;
  /** The connection ended (closed by either side) before the timeout. */
  closed: boolean;
  error?: string;
}

/**
 * Writes `bytes` on a fresh TLS connection and collects everything until the server closes or `timeoutMs`
 * passes. By default the connection is half-closed after writing: the server sees the end of the request
 * stream, answers what it can and closes (an HTTPS server does not stay half-open, so it drops pipelined
 * requests after the one in progress). With `idleMs` the connection stays open instead and the exchange ends
 * once the server has been silent that long after answering: pipelined requests all get their turn.
 */
export function rawExchange(options: ConnectionOptions, bytes: Buffer, { timeoutMs = 15_000, idleMs }: { timeoutMs?: number; idleMs?: number } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let settled = false;
    const socket = connect(options, () => {
      socket.write(bytes, () => {
        if (idleMs === undefined) socket.end();
      });
    });
    let idle: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(idle);
      socket.destroy();
      resolve({ ...parseResponses(Buffer.concat(chunks)), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (idleMs === undefined) return;
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the server answered and closed is a close; anything else is reported.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') error = `${err.code ?? ''} ${err.message}`;
    });
    socket.on('close', () => finish(true));
  });
}

/** Splits a byte stream into HTTP/1.x responses (Content-Length, chunked, or no body for 1xx/204/304). */
export function parseResponses(data: Buffer): { responses: RawResponse[]; trailing: Buffer } {
  const responses: RawResponse[] = [];
  let rest = data;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) break;
    const headers: Record<string, string[]> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      (headers[line.slice(0, colon).trim().toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
    }
    const status = Number(match[1]);
    let bodyStart = end + 4;
    let body: Buffer;
    if (status < 200 || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = rest.indexOf('\r\n', at);
        if (lineEnd === -1) return { responses, trailing: rest };
        const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) return { responses, trailing: rest };
        at = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = rest.indexOf('\r\n', at);
          at = trailerEnd === -1 ? rest.length : trailerEnd + 2;
          break;
        }
        parts.push(rest.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
      bodyStart = at;
      rest = rest.subarray(bodyStart);
      responses.push({ status, headers, body });
      continue;
    } else if (headers['content-length']) body = rest.subarray(bodyStart, bodyStart + Number(headers['content-length'][0]));
    else body = rest.subarray(bodyStart); // until the connection closes
    responses.push({ status, headers, body });
    rest = rest.subarray(bodyStart + body.length);
  }
  return { responses, trailing: rest };
}
