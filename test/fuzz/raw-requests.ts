import fc from 'fast-check';
import { anyText } from './arbitraries.js';

// Malformed HTTP/1.x on the wire: request lines, targets, header blocks and body framing a client
// library would never send, assembled as bytes.

const CRLF = '\r\n';
/** A placeholder for a live access token in a generated request. */
export const TOKEN = '__LIVE_ACCESS_TOKEN__';
const ENDPOINTS = ['/par', '/token', '/introspect', '/revoke', '/userinfo', '/accounts', '/accounts/acc-1', '/authorize', '/jwks', '/.well-known/openid-configuration', '/interaction/x/login', '/'];

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'OPTIONS', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('get', 'CONNECT', 'TRACE', 'PRI', 'G ET', 'GET\0', '', 'POST POST', 'M-SEARCH', 'XYZ', 'ＧＥＴ') },
);

const target = (authority: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ENDPOINTS) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...ENDPOINTS), fc.constantFrom('?a=%zz', '?%', '/%zz', '%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f', '/../../par', '%00', '?x=\u00ff', '//x', '/.', ';jsessionid=1', '#frag', '?client_id=client-one&client_id=x')).map(([p, s]) => p + s) },
    { weight: 2, arbitrary: fc.constantFrom(...ENDPOINTS).map((p) => `https://${authority}${p}`) },
    { weight: 1, arbitrary: fc.constantFrom('http://evil.example/par', 'https://evil.example:443/accounts', '*', 'localhost:443', '//evil.example/jwks', 'par', '\\par', '/\u00e9', '/%', '/%zz', '/a b', '/\t', '') },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => '/' + 'a'.repeat(n)) },
    { weight: 1, arbitrary: anyText(40).map((s) => '/' + s.replace(/[\r\n ]/g, '')) },
  );

const version = fc.oneof(
  { weight: 8, arbitrary: fc.constant(' HTTP/1.1') },
  { weight: 1, arbitrary: fc.constantFrom(' HTTP/1.0', '', ' HTTP/0.9', ' HTTP/2.0', ' HTTP/1.10', ' HTTP/9.9', ' http/1.1', ' HTTP/1', ' HTTP/1.1 extra', '  HTTP/1.1', ' HTTPS/1.1') },
);

const headerLine = fc.oneof(
  // TOKEN stands for a live access token (the test substitutes it): the request reaches the proxy.
  { weight: 3, arbitrary: fc.constant(`Authorization: Bearer ${TOKEN}`) },
  { weight: 4, arbitrary: fc.constantFrom('Accept: */*', 'Authorization: Bearer x', 'Authorization: DPoP x', 'DPoP: a.b.c', 'x-fapi-interaction-id: 8f0b2a62-1a7e-4d7b-9a63-6c1f5a0e2d11', 'Cookie: a=b', 'Content-Type: application/x-www-form-urlencoded', 'Connection: keep-alive', 'Connection: close', 'Upgrade: h2c', 'Connection: Upgrade', 'X-Forwarded-Client-Cert: Hash=x', 'ssl-client-cert: -----BEGIN%20CERTIFICATE-----') },
  { weight: 2, arbitrary: fc.constantFrom('Expect: 100-continue', 'Expect: 200-ok', 'Expect: ', 'Expect: 100-continue, foo') },
  // Injection and malformed lines
  { weight: 2, arbitrary: fc.constantFrom('X-A: a\rInjected: 1', 'X-A: a\nInjected: 1', 'X-A: \0', 'X-A:\u00ff\u00fe', ' X-Folded: continued', '\tobs-fold', 'X A: 1', ': empty-name', 'NoColon', 'X-A : 1', 'Host : localhost', 'Content-Length : 5', 'X-\u00e9: 1') },
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), anyText(60)).map(([n, v]) => `${n}: ${v.replace(/[\r\n]/g, '')}`) },
  { weight: 1, arbitrary: fc.integer({ min: 4_000, max: 40_000 }).map((n) => `X-Huge: ${'h'.repeat(n)}`) },
);

const host = (authority: string) => fc.constantFrom([`Host: ${authority}`], [`Host: ${authority}`], [], [`Host: ${authority}`, 'Host: evil.example'], ['Host: evil.example'], ['Host: '], ['Host: local host'], [`host: ${authority}`]);

/** How the body is framed: correctly, with conflicting or invalid lengths, chunked validly or not, or not at all. */
const framing = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ headers: [] as string[], body: '' }) },
  { weight: 3, arbitrary: fc.string({ maxLength: 100 }).map((b) => ({ headers: [`Content-Length: ${Buffer.byteLength(b)}`], body: b })) },
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.constant({ headers: ['Content-Length: 5', 'Content-Length: 6'], body: 'a=123' }),
      fc.constant({ headers: ['Content-Length: 5, 5'], body: 'a=123' }),
      fc.constant({ headers: ['Content-Length: -1'], body: '' }),
      fc.constant({ headers: ['Content-Length: 1e3'], body: '' }),
      fc.constant({ headers: ['Content-Length: 0x10'], body: '' }),
      fc.constant({ headers: ['Content-Length: 99999999999999999999'], body: '' }),
      fc.constant({ headers: ['Content-Length: 20'], body: 'short' }),
      fc.constant({ headers: ['Content-Length: 2'], body: 'a=1&b=2' }),
      fc.constant({ headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], body: '5\r\na=123\r\n0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked', 'Content-Length: 3'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '5\r\na=123\r\n0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: 'zz\r\na=123\r\n0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '5\r\na=12345678\r\n0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '5;ext="x\r\na=123\r\n0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: 'ffffffffffffffff\r\na\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '-1\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '5\na=123\n0\n\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked'], body: '0\r\nX-Trailer: 1\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: gzip, chunked'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: chunked, gzip'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding: identity'], body: 'a=1' }),
      fc.constant({ headers: ['Transfer-Encoding: xchunked'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding : chunked'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Transfer-Encoding:\tchunked'], body: '0\r\n\r\n' }),
      fc.constant({ headers: ['Content-Encoding: gzip', 'Content-Length: 4'], body: 'a=12' }),
    ),
  },
);

/** A case prints as its text in fast-check's reports, not as a byte array. */
function rawCaseOf(bytes: Buffer, pipelined: boolean, description: string): RawCase {
  return { bytes, pipelined, description, [fc.toStringMethod]: (): string => JSON.stringify(description.length > 600 ? `${description.slice(0, 600)}…` : description) };
}

export interface RawCase {
  bytes: Buffer;
  /** More than one request on the connection: the exchange waits for every answer. */
  pipelined: boolean;
  description: string;
  [fc.toStringMethod]?: () => string;
}

/** One request as bytes; the line terminator is CRLF, or now and then a bare LF. */
export function rawRequest(authority: string): fc.Arbitrary<string> {
  return fc
    .record({
      method,
      target: target(authority),
      version,
      host: host(authority),
      headers: fc.array(headerLine, { maxLength: 5 }),
      framing,
      eol: fc.constantFrom(CRLF, CRLF, CRLF, CRLF, '\n', '\r'),
    })
    .map(({ method, target, version, host, headers, framing, eol }) => {
      const head = [`${method} ${target}${version}`, ...host, ...headers, ...framing.headers].join(eol);
      return `${head}${eol}${eol}${framing.body}`;
    });
}

const validRequest = (authority: string) => fc.constantFrom('/jwks', '/.well-known/openid-configuration').map((p) => `GET ${p} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);

/** A single malformed request, or several on one connection (valid ones, then garbage), as bytes. */
export function rawCase(authority: string): fc.Arbitrary<RawCase> {
  return fc.oneof(
    { weight: 5, arbitrary: rawRequest(authority).map((text) => rawCaseOf(Buffer.from(text, 'latin1'), false, text)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(validRequest(authority), { minLength: 1, maxLength: 3 }), fc.oneof(rawRequest(authority), anyText(100), fc.constantFrom('\r\n\r\n', '\0\0\0', 'GET', 'HTTP/1.1 200 OK\r\n\r\n')))
        .map(([valid, garbage]) => {
          const text = valid.join('') + garbage;
          return rawCaseOf(Buffer.concat([Buffer.from(valid.join(''), 'latin1'), Buffer.from(garbage, 'utf8')]), true, text);
        }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 400 }).map((bytes) => rawCaseOf(Buffer.from(bytes), false, `<bytes ${Buffer.from(bytes).toString('hex')}>`)) },
  );
}

/**
 * A request for the resource route with a live token, as a client library would never frame it: absolute-form
 * and other unusual targets, dot segments and bad percent-encoding in path and query, Expect, odd framing.
 * It reaches the proxy, so the target is what the upstream call is built from.
 */
export function resourceCase(authority: string): fc.Arbitrary<RawCase> {
  const trick = fc.constantFrom(
    '', '/acc-1', '/%zz', '/acc%zz', '/%', '/..', '/../userinfo', '/%2e%2e/userinfo', '/..%2f..%2fpar', '/%2e%2e%2f', '/.%2e/x', '/acc-1/../../par',
    '\\..\\par', '/%5c..%5cpar', '/%00', '/%C0%AE%C0%AE/', '//x', '/x;y', '/x?', '?%zz', '?a=%zz', '?a=%E0%A4%A', '?a=%', '?a=1#f', '/x#f', '/\u00e9',
  );
  const target = fc.oneof(
    { weight: 3, arbitrary: trick.map((t) => `/accounts${t}`) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(`https://${authority}`, 'https://evil.example', 'http://127.0.0.1:1', 'http://[::1]', 'https://user:pass@evil.example'), trick).map(([origin, t]) => `${origin}/accounts${t}`) },
    { weight: 1, arbitrary: fc.constantFrom('/ACCOUNTS', '/accounts/', '/accounts//', '/./accounts', '/x/../accounts', '/%61ccounts', 'accounts', '*') },
  );
  const expect = fc.constantFrom([], [], ['Expect: 100-continue'], ['Expect: 100-continue', 'Expect: 100-continue'], ['Expect: 200-ok'], ['Expect: 100-Continue']);
  return fc
    .record({ method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD'), target, expect, framing, host: fc.constantFrom([`Host: ${authority}`], [`Host: ${authority}`], ['Host: evil.example'], []) })
    .map(({ method, target, expect, framing, host }) => {
      const text = [`${method} ${target} HTTP/1.1`, ...host, `Authorization: Bearer ${TOKEN}`, ...expect, ...framing.headers].join(CRLF) + CRLF + CRLF + framing.body;
      return rawCaseOf(Buffer.from(text, 'utf8'), false, text);
    });
}
