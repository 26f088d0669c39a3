/**
 * The upstream of bench/gateway.ts: a minimal plain-HTTP service that answers every request with
 * the same small JSON body, so the bench measures what sits in front of it. Run in its own process:
 *   node --import tsx bench/upstream.ts PORT
 * It prints "listening" when ready.
 */
import { createServer } from 'node:http';
import { UPSTREAM_BODY } from './lib/upstream-body.js';

const body = Buffer.from(UPSTREAM_BODY);
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const port = Number(process.argv[2]);

const server = createServer((req, res) => {
  // Drain any request body (none in the bench) before answering, as a real service would.
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
// Longer than the clients' keep-alive, so idle pooled connections are never closed under them.
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
