import t from 'tap';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import { parForm, startGateway, type Harness } from './helpers/harness.js';
import { anyText, encode, headerSafe, requestHeaders } from './fuzz/arbitraries.js';
import { expectWellFormed, send } from './fuzz/answers.js';
import { FUZZ_RUNS, FUZZ_SEED, fuzzParameters, fuzzTimeout } from './fuzz/settings.js';

// Behind a TLS-terminating ingress the client certificate arrives in a header (ingress-nginx
// `ssl-client-cert`, Envoy `x-forwarded-client-cert`). Whatever the header holds — a real certificate
// mangled, several, garbage, huge — PAR and UserInfo answer well-formed.

const HEADERS = ['ssl-client-cert', 'x-forwarded-client-cert'] as const;
const gateways = new Map<(typeof HEADERS)[number], Harness>();
let pem = '';
let otherPem = '';

t.before(async () => {
  for (const header of HEADERS)
    gateways.set(
      header,
      await startGateway({ configure: (config) => void (config.tls.forwardedClientCertificate = { header, trustedProxies: ['127.0.0.0/8'] }) }),
    );
  const h = gateways.get('ssl-client-cert')!;
  pem = await readFile(h.pki.clients['client-two'].cert, 'utf8');
  otherPem = await readFile(h.pki.ca, 'utf8');
  t.comment(`fuzz seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per property (FUZZ_SEED / FUZZ_RUNS change them)`);
  for (const g of gateways.values()) g.logs.length = 0;
});
t.teardown(() => Promise.all([...gateways.values()].map((g) => g.close())));

/** A PEM made worse: cut, a byte flipped, lines joined, another certificate added, or left alone. */
const mangledPem = (source: () => string) =>
  fc.oneof(
    fc.constant(null).map(() => source()),
    fc.nat().map((n) => source().slice(0, n % source().length)),
    fc.tuple(fc.nat(), fc.integer({ min: 0x21, max: 0x7e })).map(([n, c]) => {
      const s = source();
      const at = n % s.length;
      return s.slice(0, at) + String.fromCharCode(c) + s.slice(at + 1);
    }),
    fc.constant(null).map(() => source().replace(/\n/g, '')),
    fc.constant(null).map(() => source() + otherPem),
    fc.constant(null).map(() => otherPem),
    fc.constant(null).map(() => source().repeat(30)),
    anyText(200),
  );

const encodings = (value: string) => [encode(value, 'standard'), value, value.replace(/\n/g, '%0A'), encode(encode(value, 'standard'), 'standard')];

/** A value for the forwarding header: the PEM in the header's format, encoded right or wrong, or in odd company. */
const forwardedValue = (header: (typeof HEADERS)[number]) =>
  fc.tuple(mangledPem(() => pem), fc.nat(3), fc.constantFrom('plain', 'quoted', 'two-elements', 'extra-keys', 'empty-cert', 'semicolons')).map(([value, how, form]) => {
    const encoded = encodings(value)[how];
    if (header === 'ssl-client-cert') return encoded;
    switch (form) {
      case 'plain':
        return `Hash=abc;Cert=${encoded}`;
      case 'quoted':
        return `By=spiffe://x;Hash=abc;Cert="${encoded}";Subject="CN=x"`;
      case 'two-elements':
        return `Cert="${encoded}",Cert="${encodeURIComponent(otherPem)}"`;
      case 'extra-keys':
        return `Cert="${encoded}";Cert="x";URI=;DNS=a,b`;
      case 'empty-cert':
        return 'Cert="";Hash=';
      default:
        return `;;;Cert=${encoded};;;`;
    }
  });

t.test('PAR and UserInfo answer any forwarded certificate header with a well-formed answer', { timeout: fuzzTimeout(150) }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...HEADERS).chain((header) => fc.tuple(fc.constant(header), forwardedValue(header), fc.boolean())),
      fc.constantFrom('/par', '/userinfo', '/token'),
      requestHeaders(),
      async ([header, value, alsoTls], path, headers) => {
        const h = gateways.get(header)!;
        const sentHeaders: Record<string, string> = { ...headers, [header]: headerSafe(value) };
        const body = path === '/par' ? new URLSearchParams(parForm({ client_id: 'client-two' })).toString() : path === '/token' ? 'grant_type=client_credentials&client_id=client-two&scope=accounts' : '';
        if (body) sentHeaders['content-type'] = 'application/x-www-form-urlencoded';
        const method = path === '/userinfo' ? 'GET' : 'POST';
        const sent = { method, url: h.mtlsBase + path, headers: sentHeaders, body };
        const res = await send(h.agent(alsoTls ? 'client-one' : undefined), sent);
        expectWellFormed(h, sent, res, path === '/userinfo' ? 'resource' : 'oauth');
      },
    ),
    fuzzParameters(0.75),
  );
});
