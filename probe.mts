import { readFile } from 'node:fs/promises';
import { startGateway } from './test/helpers/harness.js';
import { fullFlow } from './test/helpers/flow.js';
import { recordingUpstream } from './test/helpers/upstream.js';
import { rawExchange } from './test/fuzz/raw-client.js';
const upstream = await recordingUpstream();
const h = await startGateway({ configure: (c) => { c.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], timeoutMs: 5000, bodyLimitBytes: 4096 }]; } });
const token = (await fullFlow(h, 'client-one', { scope: 'openid accounts' })).tokens.access_token;
const m = new URL(h.mtlsBase);
const opts = { host: '127.0.0.1', port: Number(m.port), ca: h.ca, servername: 'localhost', cert: await readFile(h.pki.clients['client-one'].cert), key: await readFile(h.pki.clients['client-one'].key) };
const a = m.host;
for (const [target, extra, body] of [
  [`https://${a}/accounts`, '', ''],
  ['https://evil.example/accounts', '', ''],
  ['http://127.0.0.1:1/accounts/x', '', ''],
  ['/accounts/%zz', '', ''],
  ['/accounts/..%2f..%2fpar', '', ''],
  ['/accounts/%2e%2e/userinfo', '', ''],
  ['/accounts/../userinfo', '', ''],
  ['/accounts', 'Expect: 100-continue\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n', 'abc'],
  ['/accounts', 'Expect: foo\r\nContent-Length: 3\r\n', 'abc'],
  ['/accounts?%zz', '', ''],
  ['//accounts', '', ''],
  ['/accounts\\..\\par', '', ''],
] as const) {
  upstream.received.length = 0;
  h.logs.length = 0;
  const method = body ? 'POST' : 'GET';
  const ex = await rawExchange(opts, Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: ${a}\r\nAuthorization: Bearer ${token}\r\n${extra}\r\n${body}`, 'latin1'));
  console.log(target, extra.split('\r\n')[0], '=>', ex.responses.map((r) => `${r.status} ${r.headers.date ? 'date' : 'NO-DATE'} ${r.body.toString().slice(0, 150)}`), 'closed', ex.closed, 'upstream:', upstream.received.map((r) => r.url), h.logs.filter((l) => JSON.parse(l).level >= 40).map((l) => l.slice(0, 300)));
}
await h.close(); await upstream.close();
