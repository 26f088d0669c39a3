import fc from 'fast-check';

// Generators for what a hostile or broken client sends: parameter names the endpoints know mixed with
// random ones, values from plain ASCII to astral-plane unicode and lone surrogates, huge values,
// repeated parameters, JWT-shaped strings, and headers an endpoint may read.

export const OAUTH_PARAMS = [
  'response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method',
  'request_uri', 'request', 'claims', 'max_age', 'prompt', 'acr_values', 'ui_locales', 'response_mode', 'authorization_details',
  'grant_type', 'code', 'code_verifier', 'refresh_token', 'token', 'token_type_hint', 'client_secret', 'client_assertion',
  'client_assertion_type', 'resource', 'login_hint', 'id_token_hint', 'access_token', 'dpop_jkt',
  'username', 'password', 'csrf', 'action', 'decision', '__proto__', 'constructor', 'hasOwnProperty', 'toString',
];

const KNOWN_VALUES = [
  'code', 'client-one', 'client-two', 'https://client.localhost/callback', 'openid accounts', 'S256', 'plain', 'authorization_code',
  'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'approve', 'deny', 'cancel',
  'alice', 'login', 'consent', 'none', 'form_post', 'query.jwt', 'access_token', 'urn:ietf:params:oauth:request_uri:x',
  '{"userinfo":{"name":null}}', '[]', '{}', 'null', '0', '-1', '1e309', '99999999999999999999999', 'true',
];

/** A lone surrogate: valid in a JS string, not encodable as UTF-8. */
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Text from every corner: ASCII, any code point, graphemes, control characters, lone surrogates. */
export const anyText = (maxLength = 40): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), loneSurrogate, fc.constantFrom('\0', '\r', '\n', '%', '&', '=', '+', ';', '"', '<', '\\')), maxLength }) },
  );

/** A value that may be huge: most are short, some are tens or hundreds of kilobytes. */
const hugeText = fc
  .tuple(fc.constantFrom('a', '%', '€', '𝔘', '{"a":', '[', '%zz', '&'), fc.integer({ min: 10_000, max: 200_000 }))
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)));

/** Nested JSON deep enough to hurt a recursive walker. */
const deepJson = fc.integer({ min: 50, max: 5_000 }).chain((depth) =>
  fc.constantFrom('{"a":', '[').map((open) => open.repeat(depth) + '1' + (open === '[' ? ']' : '}').repeat(depth)),
);

/** A well-formed `claims` request with something deep where a value may go (a request walks or copies it). */
export const deepClaims = fc
  .tuple(fc.constantFrom('userinfo', 'id_token'), fc.constantFrom('value', 'values'), fc.integer({ min: 1_000, max: 9_000 }), fc.constantFrom('[', '{"a":'))
  .map(([target, member, depth, open]) => {
    // Deep enough to hurt, small enough (mostly) to fit the body limit once encoded.
    const n = open === '[' ? depth : Math.floor(depth / 3);
    const deep = `${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}`;
    return `{"${target}":{"name":{"${member}":${member === 'values' ? `[${deep}]` : deep}}}}`;
  });

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Strings shaped like compact JWS: base64url JSON header and payload with plausible and absurd claims. */
export const jwtShaped: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      header: fc.record(
        {
          alg: fc.oneof(fc.constantFrom('PS256', 'ES256', 'RS256', 'HS256', 'none', 'EdDSA', ''), anyText(8)),
          kid: fc.oneof(anyText(20), fc.constantFrom('client-one', '../../etc/passwd')),
          typ: fc.constantFrom('JWT', 'dpop+jwt', 'at+jwt'),
          jwk: fc.record({ kty: fc.constantFrom('EC', 'RSA', 'oct', 'OKP', 'x'), crv: fc.constantFrom('P-256', 'P-521', 'Ed25519'), x: fc.base64String(), y: fc.base64String() }),
          crit: fc.array(anyText(6), { maxLength: 2 }),
          b64: fc.boolean(),
        },
        { requiredKeys: ['alg'] },
      ),
      payload: fc.record(
        {
          iss: fc.oneof(fc.constantFrom('client-one', 'client-two'), anyText(20)),
          sub: fc.oneof(fc.constantFrom('client-one', 'client-two'), anyText(20)),
          aud: fc.oneof(fc.constant('https://localhost'), fc.array(anyText(10), { maxLength: 3 }), fc.integer()),
          exp: fc.oneof(fc.integer(), fc.double(), fc.constant(1e309), anyText(5)),
          iat: fc.oneof(fc.integer(), fc.constant(-1)),
          jti: anyText(20),
          htm: fc.constantFrom('POST', 'GET'),
          htu: anyText(30),
          claims: fc.jsonValue({ maxDepth: 4 }),
        },
        { requiredKeys: [] },
      ),
      signature: fc.oneof(fc.base64String({ maxLength: 400 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')), fc.constant(''), anyText(10)),
    })
    .map(({ header, payload, signature }) => `${b64url(header)}.${b64url(payload)}.${signature}`),
  fc.array(fc.oneof(fc.base64String({ maxLength: 60 }), anyText(20)), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.tuple(anyText(200), fc.constantFrom('{', '[', '"x"')).map(([junk, json]) => `${b64url(json)}.${b64url(junk)}.`),
);

/** Values for one parameter of an otherwise valid request: plausible, absurd, deep, huge. */
export const nearValidValue = fc.oneof(
  { weight: 3, arbitrary: anyText(60) },
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_VALUES) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.record({ userinfo: fc.dictionary(anyText(10), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 }), id_token: fc.jsonValue({ maxDepth: 4 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: deepClaims },
  { weight: 1, arbitrary: hugeText },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_000 }).map((n) => Array.from({ length: n }, (_, i) => `s${i}`).join(' ')) },
);

const paramName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...OAUTH_PARAMS) }, { weight: 1, arbitrary: anyText(12) });
const paramValue = fc.oneof(
  { weight: 4, arbitrary: anyText(60) },
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_VALUES) },
  { weight: 2, arbitrary: jwtShaped },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: hugeText },
);

/** Encodes one form component; `raw` leaves it as it is (broken percent-encoding, bare `&`, bytes) */
export function encode(text: string, how: 'standard' | 'raw' | 'plus'): string {
  if (how === 'raw') return text;
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch {
    return text; // a lone surrogate: sent as raw bytes (its UTF-8 replacement on the wire)
  }
  return how === 'plus' ? encoded.replace(/%20/g, '+') : encoded;
}

export type FormPairs = Array<[string, string]>;

/** A list of parameters, names may repeat. */
export const formPairs: fc.Arbitrary<FormPairs> = fc.array(fc.tuple(paramName, paramValue), { maxLength: 12 });

/** A body for a form endpoint: encoded pairs (standardly or not), or plain garbage. */
export const formBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(formPairs, fc.constantFrom('standard', 'raw', 'plus') as fc.Arbitrary<'standard' | 'raw' | 'plus'>).map(([pairs, how]) => pairs.map(([k, v]) => `${encode(k, how)}=${encode(v, how)}`).join('&')) },
  { weight: 1, arbitrary: anyText(200) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constantFrom('', '&', '=', '&&&=&', '%', '%zz=1', 'a=%E0%A4%A', 'a=%C0%AF', 'a=%ED%A0%80', 'a=%00', '__proto__=x', 'a=1&a=1', 'a&a') },
);

/** Media types: the right one, near misses, and junk. */
export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined,
      'application/x-www-form-urlencoded; charset=utf-8',
      'application/x-www-form-urlencoded; charset=iso-8859-1',
      'APPLICATION/X-WWW-FORM-URLENCODED',
      'application/x-www-form-urlencoded;;;',
      'application/json',
      'application/jwt',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencodedx',
      '*/*',
      '',
      ';',
    ),
  },
  { weight: 1, arbitrary: visibleHeaderValue(40) },
);

/** What undici lets through as a header value: tab, visible ASCII, and bytes 0x80–0xff (as latin1). */
export function visibleHeaderValue(maxLength: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) }, { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) }).map((c) => String.fromCharCode(c)), maxLength })
    .map((s) => s.trim());
}

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const headerName = fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 20 });
/** Headers the client library controls itself or that change the framing; the raw-socket suite covers them. */
const FRAMING = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection', 'http2-settings']);

/** An Authorization header: Bearer, DPoP, Basic and unknown schemes, with random or real tokens. */
export function authorization(realTokens: string[]): fc.Arbitrary<string> {
  const real = realTokens.length > 0 ? fc.constantFrom(...realTokens) : fc.constant('x');
  const token = fc.oneof(visibleHeaderValue(80), jwtShaped, real, real.map((t) => t.slice(0, -2)));
  return fc.oneof(
    fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'DPoP', 'dpop', 'Basic', 'Digest', 'Negotiate', 'Bearer  ', ''), token).map(([s, v]) => `${s} ${v}`.trim()),
    fc.tuple(anyText(10).map((s) => Buffer.from(s).toString('base64')), anyText(10).map((s) => Buffer.from(s).toString('base64'))).map(([u, p]) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`),
    real.map((t) => `Bearer ${t}, Bearer x`),
    visibleHeaderValue(60),
  );
}

/** Request headers: Authorization, DPoP, x-fapi-*, content encodings, cookies and random ones. */
export function requestHeaders(realTokens: string[] = []): fc.Arbitrary<Record<string, string>> {
  return fc
    .record(
      {
        authorization: authorization(realTokens),
        dpop: fc.oneof(jwtShaped, visibleHeaderValue(40)),
        'x-fapi-interaction-id': fc.oneof(fc.uuid(), visibleHeaderValue(80)),
        'x-fapi-auth-date': fc.oneof(fc.constant('Tue, 11 Sep 2012 19:43:31 GMT'), visibleHeaderValue(40)),
        'x-fapi-customer-ip-address': fc.oneof(fc.ipV4(), fc.ipV6(), visibleHeaderValue(40)),
        'x-jws-signature': jwtShaped,
        'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'x-unknown', ''),
        'accept-encoding': fc.constantFrom('gzip', 'br', '*', 'identity;q=0', ''),
        accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml', ''),
        'x-forwarded-for': fc.oneof(fc.ipV4(), visibleHeaderValue(40)),
        'x-forwarded-proto': fc.constantFrom('http', 'https', 'gopher'),
        'x-ssl-client-cert': visibleHeaderValue(200),
        'ssl-client-cert': visibleHeaderValue(200),
        cookie: visibleHeaderValue(200),
        origin: fc.oneof(fc.webUrl(), visibleHeaderValue(40)),
      },
      { requiredKeys: [] },
    )
    .chain((known) =>
      fc.dictionary(headerName.filter((n) => !FRAMING.has(n.toLowerCase())), visibleHeaderValue(60), { maxKeys: 4 }).map((extra) => {
        const all: Record<string, string> = {};
        for (const [k, v] of Object.entries({ ...extra, ...known })) if (!FRAMING.has(k.toLowerCase()) && !(k.toLowerCase() in all)) all[k.toLowerCase()] = headerSafe(v);
        return all;
      }),
    );
}

/**
 * What a client library puts on the wire for a header value: unicode as its UTF-8 bytes (read back as
 * latin1), controls other than tab replaced. The raw-socket suite sends the rest.
 */
export function headerSafe(value: string): string {
  return Buffer.from(value.replace(/[\ud800-\udfff]/g, '?'), 'utf8').toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').trim();
}

/** A query string: known and random parameters, encoded or not. */
export const queryString: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.array(fc.tuple(paramName, fc.oneof(anyText(60), fc.constantFrom(...KNOWN_VALUES), jwtShaped)), { maxLength: 10 }), fc.boolean()).map(([pairs, standard]) =>
    pairs.map(([k, v]) => (standard ? `${encode(k, 'standard')}=${encode(v, 'standard')}` : `${asciiPath(k)}=${asciiPath(v)}`)).join('&'),
  ),
  fc.constantFrom('', '%', '%zz', 'a=%E0%A4%A', '&&', '=', 'a[b]=1&a[c]=2', 'a[__proto__][x]=1', 'client_id=client-one&client_id=client-two', '?'),
);

/** Keeps a component sendable in a request target: undici refuses raw spaces and controls there. */
function asciiPath(text: string): string {
  return text.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff ? '?' : c)).replace(/#/g, '%23');
}

/** A path segment, for `/interaction/:uid/...` and resource sub-paths. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_~.'), maxLength: 30 }),
  anyText(30).map(asciiPath),
  fc.constantFrom('..', '.', '%2e%2e', '%2f', '%00', '%zz', '%', '%C0%AE', '..%2f..%2f', '\\', '%5c', '%252e', ';a=b', 'a?b'),
);

export const httpMethod: fc.Arbitrary<string> = fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND');
