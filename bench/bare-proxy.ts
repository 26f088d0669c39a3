/**
 * The floor for bench/gateway.ts: a bare Node mutual-TLS pass-through proxy with no checks. Same
 * server certificate, FAPI TLS policy and client-certificate request as the gateway's mTLS
 * listener; forwards every request to the upstream over a keep-alive agent (64 sockets, like the
 * gateway's undici pool), dropping only hop-by-hop headers. Run in its own process:
 *   node --import tsx bench/bare-proxy.ts SETTINGS.json
 * It prints "listening" when ready.
 */
import { readFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import { FAPI_TLS_POLICY } from '../src/tls/policy.js';

/** What the bench hands over (see bench/lib/resource-servers.ts). */
export interface BareProxySettings {
  port: number;
  /** http://host:port of the upstream. */
  upstream: string;
  serverCert: string;
  serverKey: string;
  /** Trust anchor for client certificates (requested, not enforced, as the gateway does). */
  clientCa: string;
}

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8')) as BareProxySettings;
const upstream = new URL(settings.upstream);
const agent = new Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 30_000 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

const server = createServer(
  {
    ...FAPI_TLS_POLICY,
    cert: readFileSync(settings.serverCert),
    key: readFileSync(settings.serverKey),
    ca: readFileSync(settings.clientCa),
    requestCert: true,
    rejectUnauthorized: false,
  },
  (req, res) => {
    const outgoing = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: endToEnd(req.headers), agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    outgoing.on('error', () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"bad_gateway"}');
    });
    req.pipe(outgoing);
  },
);
// Fastify's default, which the gateway's listeners have.
server.keepAliveTimeout = 72_000;
server.listen(settings.port, '127.0.0.1', () => console.log(`listening on https://localhost:${settings.port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
