import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP upstream that records what reaches it. `/slow` answers after 3 s; `/reset` drops the
 * connection; `/hang` never answers; `/truncate` sends its status line and a tenth of its body, then
 * drops the connection; `/stream` sends a chunk every 50 ms for 20 s, until the reader goes.
 */
export async function recordingUpstream(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url!.includes('/reset')) return req.socket.destroy();
      if (req.url!.includes('/hang')) return;
      if (req.url!.includes('/truncate')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
        res.write(Buffer.alloc(100, 'x'), () => setTimeout(() => req.socket.destroy(), 50));
        return;
      }
      if (req.url!.includes('/stream')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let sent = 0;
        const timer = setInterval(() => (++sent > 400 ? (clearInterval(timer), res.end()) : res.write(Buffer.alloc(1024, 'y'))), 50);
        res.on('close', () => clearInterval(timer));
        return;
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        res.end(JSON.stringify({ ok: true, path: req.url }));
      };
      if (req.url!.includes('/slow')) setTimeout(answer, 3000).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
