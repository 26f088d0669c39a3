import t from 'tap';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startGateway, testPki, testConfig, type Harness } from './helpers/harness.js';
import { resolveConfig } from '../src/config/load.js';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';

// Short limits so that the test sees them act; the margins below are generous (a busy machine).
const LIMITS = { requestTimeoutMs: 1500, headersTimeoutMs: 1000, keepAliveTimeoutMs: 1000, handshakeTimeoutMs: 1000, maxConnections: 8 };
// A drip that outlives every limit many times over: a connection still open at its end was not cut.
const DRIP_MS = 200;
const DRIP_BYTES = 150; // 30 s

let h: Harness;
t.before(async () => {
  h = await startGateway({ configure: (config) => void (config.server = LIMITS) });
});
t.teardown(() => h.close());

const port = (listener: 'public' | 'mtls') => h.gateway.context.config.listeners[listener].port;

function tlsSocket(listener: 'public' | 'mtls'): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: port(listener), ca: h.ca, servername: 'localhost' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `bytes` one by one every DRIP_MS until the server closes the socket; resolves with what it answered and how many were sent. */
async function drip(socket: Socket, head: string, byte: string): Promise<{ answer: string; sent: number }> {
  let answer = '';
  let closed = false;
  socket.on('data', (chunk) => (answer += chunk));
  socket.on('error', () => undefined);
  socket.once('close', () => (closed = true));
  socket.write(head);
  let sent = 0;
  for (; sent < DRIP_BYTES && !closed; sent++) {
    socket.write(byte);
    await new Promise((r) => setTimeout(r, DRIP_MS));
  }
  socket.destroy();
  return { answer, sent };
}

t.test('a body dripped one byte at a time to POST /token is cut with 408', async (t) => {
  const socket = await tlsSocket('mtls');
  const head = 'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n';
  const { answer, sent } = await drip(socket, head, 'a');
  t.ok(sent < DRIP_BYTES, `the connection was closed before the drip ended (${sent} bytes sent)`);
  if (answer) t.match(answer, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
});

t.test('headers dripped one byte at a time (slowloris) are cut', async (t) => {
  const socket = await tlsSocket('public');
  const { answer, sent } = await drip(socket, 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 'x');
  t.ok(sent < DRIP_BYTES, `the connection was closed before the drip ended (${sent} bytes sent)`);
  if (answer) t.match(answer, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
});

t.test('a TLS connection that never sends a request is cut', async (t) => {
  const socket = await tlsSocket('public');
  const { sent } = await drip(socket, '', '');
  t.ok(sent < DRIP_BYTES, 'closed by the server');
});

t.test('a TLS handshake that never completes is cut', async (t) => {
  const socket = netConnect({ host: '127.0.0.1', port: port('mtls') });
  // The first bytes of a ClientHello record, then nothing.
  const { sent } = await drip(socket, '\x16\x03\x01', '');
  t.ok(sent < DRIP_BYTES, 'closed by the server');
});

t.test('connections past maxConnections are refused; a request still works once they go', async (t) => {
  const held: TLSSocket[] = [];
  for (let i = 0; i < LIMITS.maxConnections; i++) held.push(await tlsSocket('public'));
  // Kept busy with a slow header drip, they would be cut by the header timeout; this checks the cap before that.
  const refused = await tlsSocket('public').then(
    (socket) => new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      socket.once('error', () => resolve(true));
      socket.write('GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\r\n');
      socket.once('data', () => resolve(false));
    }),
    () => true,
  );
  t.ok(refused, 'the connection past the cap was closed without an answer');
  for (const socket of held) socket.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const res = await h.get(`${h.issuer}/.well-known/openid-configuration`, { client: null });
  t.equal(res.status, 200, 'the listener serves again below the cap');
});

t.test('the cuts are counted by listener and reason', async (t) => {
  const text = await h.gateway.context.metrics!.registry.getSingleMetricAsString('fapi_gateway_connections_cut_total');
  t.match(text, /reason="request_timeout"/, 'request timeouts');
  t.match(text, /listener="mtls",reason="handshake_timeout"/, 'handshake timeouts');
  t.match(text, /listener="public",reason="max_connections"/, 'connections over the cap');
});

t.test('a header timeout longer than the request timeout fails at start, naming the key', async (t) => {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  config.server = { requestTimeoutMs: 1000, headersTimeoutMs: 2000 };
  const loaded = await resolveConfig(config, dir, {});
  const err = await createContext(loaded).then(
    (ctx) => ctx.store.close(),
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigError, 'a ConfigError');
  t.match((err as Error).message, /server\.headersTimeoutMs/, 'naming server.headersTimeoutMs');
});
