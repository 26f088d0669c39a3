import { connect, type ConnectionOptions } from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
  /** The whole body arrived (by Content-Length or the last chunk); false when it runs until the close. */
  complete: boolean;
}

export interface RawExchange {
  responses: RawResponse[];
  /** Bytes after the last response that do not parse as one. */
  trailing: Buffer;
  /** The connection ended (closed by either side) before the timeout. */
  closed: boolean;
  error?: string;
}

export interface ExchangeOptions {
  /** Give up after this long (the server neither answered nor closed). */
  timeoutMs?: number;
  /**
   * `answer` (default): done at the first complete final answer; when nothing comes for `quietMs`, the
   * connection is half-closed so the server sees the end of an incomplete request (an HTTPS server then
   * answers what it can and closes, dropping what is still in progress).
   * `pipelined`: every request gets its turn; done once the server has been silent for `quietMs` after answering.
   */
  mode?: 'answer' | 'pipelined';
  quietMs?: number;
}

/** Writes `bytes` on a fresh TLS connection and collects what the server answers. */
export function rawExchange(options: ConnectionOptions, bytes: Buffer, { timeoutMs = 15_000, mode = 'answer', quietMs = mode === 'answer' ? 1_000 : 400 }: ExchangeOptions = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let settled = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.destroy();
      resolve({ ...parseResponses(Buffer.concat(chunks)), closed, error });
    };
    const whenQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => (mode === 'answer' ? socket.end() : finish(false)), quietMs);
    };
    const socket = connect(options, () => {
      socket.write(bytes);
      if (mode === 'answer') whenQuiet();
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (mode === 'pipelined') return whenQuiet();
      if (parseResponses(Buffer.concat(chunks)).responses.some((r) => r.status >= 200 && r.complete)) finish(false);
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
    const bodyStart = end + 4;
    if (status < 200 || status === 204 || status === 304) {
      responses.push({ status, headers, body: Buffer.alloc(0), complete: true });
      rest = rest.subarray(bodyStart);
    } else if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      let at = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = rest.indexOf('\r\n', at);
        if (lineEnd === -1) break;
        const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) break;
        at = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = rest.indexOf('\r\n', at);
          complete = trailerEnd !== -1;
          at = complete ? trailerEnd + 2 : rest.length;
          break;
        }
        parts.push(rest.subarray(at, at + size));
        at += size + 2;
      }
      responses.push({ status, headers, body: Buffer.concat(parts), complete });
      if (!complete) return { responses, trailing: Buffer.alloc(0) };
      rest = rest.subarray(at);
    } else if (headers['content-length']) {
      const length = Number(headers['content-length'][0]);
      const body = rest.subarray(bodyStart, bodyStart + length);
      responses.push({ status, headers, body, complete: body.length === length });
      rest = rest.subarray(bodyStart + body.length);
    } else {
      // Until the connection closes.
      responses.push({ status, headers, body: rest.subarray(bodyStart), complete: false });
      rest = Buffer.alloc(0);
    }
  }
  return { responses, trailing: rest };
}
