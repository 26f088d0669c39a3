// Client authentication (checklist "Clients"), through the PAR endpoint: private_key_jwt (RFC 7523),
// tls_client_auth (RFC 8705 §2.1) by subject DN and by SAN, self_signed_tls_client_auth (§2.2), and
// the RFC 4514 DN comparison behind tls_client_auth.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import t from 'tap';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { createCa, issueCertificate, type Issued } from '../src/devpki/pki.js';
import { MemoryStore } from '../src/store/memory.js';
import type { RecordKind } from '../src/store/store.js';
import { normalizeCertificateSubject, normalizeDnString, sameDn } from '../src/tls/distinguished-name.js';
import { parForm, startGateway, type Harness, type Response } from './helpers/harness.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SAN_DNS = 'client-san.example.com';

let h: Harness;
let dir: string;
/** A CA the gateway trusts besides the dev CA, and one it does not. */
let extraCa: Issued;
let rogueCa: Issued;
let selfSigned: Issued;
/** Self-signed certificates registered for client-self-bad, each unfit for client authentication. */
let selfSignedUnfit: Record<'expired' | 'notYetValid' | 'ca' | 'serverOnly', Issued>;
let clientOneJwk: JWK;

/** The memory store, noting the lifetime asked for each assertion jti it records. */
class JtiRecordingStore extends MemoryStore {
  readonly jtiLifetimes: number[] = [];
  override setIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    if (kind === 'jti') this.jtiLifetimes.push(ttlSeconds);
    return super.setIfAbsent(kind, id, value, ttlSeconds);
  }
  // PAR and the token endpoint record the jti as a step of the sequence that writes what it decides.
  override sequence(steps: Parameters<MemoryStore['sequence']>[0]) {
    for (const step of steps) if ('set' in step && step.set === 'jti') this.jtiLifetimes.push(step.ttlSeconds);
    return super.sequence(steps);
  }
}
const store = new JtiRecordingStore();
const x5cJwk = async (issued: Issued) => ({ ...(await exportJWK(issued.keys.publicKey)), x5c: [Buffer.from(issued.cert.rawData).toString('base64')] });

t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-client-auth-'));
  extraCa = await createCa('O=fapi-gateway test, CN=extra client CA');
  rogueCa = await createCa('O=fapi-gateway demo, CN=fapi-gateway development CA');
  selfSigned = await issueCertificate({ subject: 'O=self-signed client, CN=client-self', usage: 'client' });
  const day = 86_400_000;
  const unfit = { subject: 'O=self-signed client, CN=client-self-bad', usage: 'client' } as const;
  selfSignedUnfit = {
    expired: await issueCertificate({ ...unfit, notBefore: new Date(Date.now() - 400 * day), validDays: 10 }),
    notYetValid: await issueCertificate({ ...unfit, notBefore: new Date(Date.now() + 10 * day) }),
    ca: await issueCertificate({ ...unfit, basicConstraintsCa: true }),
    serverOnly: await issueCertificate({ ...unfit, usage: 'server' }),
  };
  await writeFile(path.join(dir, 'extra-ca.pem'), extraCa.certPem);
  h = await startGateway({
    gatewayOptions: { store },
    async configure(config) {
      // One test keeps a connection idle while a certificate expires on it.
      config.server = { keepAliveTimeoutMs: 60_000 };
      config.tls.clientCAs.push(path.join(dir, 'extra-ca.pem'));
      config.clients.push(
        {
          client_id: 'client-san',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_san_dns: SAN_DNS,
          redirect_uris: [DEMO_REDIRECT_URI],
          scope: 'openid accounts',
        },
        {
          client_id: 'client-self',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [{ ...(await exportJWK(selfSigned.keys.publicKey)), x5c: [Buffer.from(selfSigned.cert.rawData).toString('base64')] }] },
          redirect_uris: [DEMO_REDIRECT_URI],
          scope: 'openid accounts',
        },
        {
          client_id: 'client-self-bad',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: await Promise.all(Object.values(selfSignedUnfit).map(x5cJwk)) },
          redirect_uris: [DEMO_REDIRECT_URI],
          scope: 'openid accounts',
        },
      );
    },
  });
  clientOneJwk = JSON.parse(await readFile(h.pki.clients['client-one'].jwk, 'utf8'));
});
t.teardown(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The type of a subtest's `t`. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const now = () => Math.floor(Date.now() / 1000);
const agentFor = (issued: Issued) => h.agent({ cert: issued.certPem, key: issued.keyPem });

/** Every assertion sent, to check that none leaks into an error description or the logs. */
const sentAssertions: string[] = [];

/** A PAR for client-one authenticated by `assertion` (or by the form fields given). */
async function parWithAssertion(assertion: string | undefined, extra: Record<string, string | undefined> = {}, options: Parameters<Harness['post']>[2] = {}) {
  if (assertion) sentAssertions.push(assertion);
  const form: Record<string, string | undefined> = { ...parForm(), client_assertion_type: JWT_BEARER, client_assertion: assertion, ...extra };
  for (const k of Object.keys(form)) if (form[k] === undefined) delete form[k];
  return h.post('/par', form as Record<string, string>, { client: 'client-one', ...options });
}

/** A PAR for a mutual-TLS client, sending only client_id. */
function parAsMtlsClient(clientId: string, agentOrClient: ReturnType<Harness['agent']> | 'client-one' | 'client-two' | null) {
  const form = parForm({ client_id: clientId });
  return typeof agentOrClient === 'object' && agentOrClient !== null
    ? h.post('/par', form, { agent: agentOrClient })
    : h.post('/par', form, { client: agentOrClient });
}

function accepted(t: Tap, res: Response, why?: string) {
  t.equal(res.status, 201, why ?? res.text);
  t.match(res.json?.request_uri, /^urn:ietf:params:oauth:request_uri:/);
}

function rejected(t: Tap, res: Response, why?: string) {
  t.equal(res.status, 401, `${why ?? 'rejected'}: ${res.text}`);
  t.equal(res.json?.error, 'invalid_client');
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.headers['content-type'], /^application\/json/);
  t.type(res.json?.error_description, 'string');
  checkNoSecrets(t, res);
}

/** No assertion, no part of one and no key material in what the client is told. */
function checkNoSecrets(t: Tap, res: Response) {
  const secrets = [clientOneJwk.d!, clientOneJwk.x!, clientOneJwk.y!];
  for (const a of sentAssertions) secrets.push(a, ...a.split('.').filter((part) => part.length >= 16));
  const leaked = secrets.filter((s) => res.text.includes(s));
  t.same(leaked, [], 'the response holds no assertion and no key material');
}

t.test('private_key_jwt', async (t) => {
  t.test('a valid assertion is accepted (with and without a client certificate)', async (t) => {
    accepted(t, await parWithAssertion(await h.assertion()));
    accepted(t, await parWithAssertion(await h.assertion(), {}, { client: null }), 'the certificate is optional for private_key_jwt at PAR');
  });

  t.test('client_assertion_type other than jwt-bearer', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion(), { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }));
    rejected(t, await parWithAssertion(await h.assertion(), { client_assertion_type: undefined }), 'no client_assertion_type');
  });

  t.test('missing client_assertion', async (t) => {
    rejected(t, await parWithAssertion(undefined));
  });

  t.test('malformed JWT', async (t) => {
    rejected(t, await parWithAssertion('not-a-jwt'));
    rejected(t, await parWithAssertion('eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln'), 'payload is not JSON');
    const valid = await h.assertion();
    rejected(t, await parWithAssertion(valid.slice(0, -4) + (valid.endsWith('AAAA') ? 'BBBB' : 'AAAA')), 'signature altered');
  });

  t.test('unknown iss', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ iss: 'nobody', sub: 'nobody' }), { client_id: undefined }));
  });

  t.test('iss missing', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ iss: undefined }), { client_id: undefined }));
  });

  t.test('iss differs from sub', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ sub: 'client-two' })));
  });

  t.test('sub missing', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ sub: undefined })));
  });

  t.test('aud other than the issuer identifier as a string', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ aud: [h.issuer] })), 'array holding the issuer');
    rejected(t, await parWithAssertion(await h.assertion({ aud: [h.issuer, 'https://other.example'] })), 'array holding the issuer and more');
    rejected(t, await parWithAssertion(await h.assertion({ aud: h.gateway.context.urls.token })), 'token endpoint URL');
    rejected(t, await parWithAssertion(await h.assertion({ aud: h.gateway.context.urls.par })), 'PAR endpoint URL');
    rejected(t, await parWithAssertion(await h.assertion({ aud: h.issuer + '/' })), 'issuer with a trailing slash');
    rejected(t, await parWithAssertion(await h.assertion({ aud: undefined })), 'no aud');
    t.equal(h.gateway.context.urls.par, h.mtlsBase + '/par');
  });

  t.test('exp missing', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ exp: undefined })));
  });

  t.test('expired', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ iat: now() - 120, exp: now() - 60 })));
  });

  t.test('jti missing', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ jti: undefined })));
  });

  t.test('a jti is never accepted twice', async (t) => {
    const assertion = await h.assertion();
    accepted(t, await parWithAssertion(assertion), 'first use');
    rejected(t, await parWithAssertion(assertion), 'the same assertion again');
    const jti = randomUUID();
    accepted(t, await parWithAssertion(await h.assertion({ jti })), 'first assertion with this jti');
    rejected(t, await parWithAssertion(await h.assertion({ jti, iat: now() - 1 })), 'another assertion with the same jti');
  });

  t.test('a jti is remembered only as long as its assertion could be accepted', async (t) => {
    // Profile fapi2: max age 300 s, future tolerance 10 s.
    const lifetimeOf = async (claims: Record<string, unknown>) => {
      const before = store.jtiLifetimes.length;
      accepted(t, await parWithAssertion(await h.assertion(claims)));
      t.equal(store.jtiLifetimes.length, before + 1, 'one jti recorded');
      return store.jtiLifetimes.at(-1)!;
    };
    const farExp = await lifetimeOf({ iat: now(), exp: now() + 3600 });
    t.ok(farExp > 0 && farExp <= 310, `a far exp is cut at iat + max age + tolerance (${farExp} s)`);
    const oldIat = await lifetimeOf({ iat: now() - 250, exp: now() + 600 });
    t.ok(oldIat > 0 && oldIat <= 60, `an assertion issued 250 s ago is kept for what remains of its max age (${oldIat} s)`);
    const noIat = await lifetimeOf({ iat: undefined, exp: now() + 60 });
    t.ok(noIat > 0 && noIat <= 70, `without iat: until exp + tolerance (${noIat} s)`);
  });

  t.test('iat and nbf up to 10 s in the future are accepted (8 s)', async (t) => {
    accepted(t, await parWithAssertion(await h.assertion({ iat: now() + 8 })), 'iat +8 s');
    accepted(t, await parWithAssertion(await h.assertion({ nbf: now() + 8 })), 'nbf +8 s');
  });

  t.test('iat or nbf more than 60 s in the future are rejected (70 s)', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion({ iat: now() + 70, exp: now() + 130 })), 'iat +70 s');
    rejected(t, await parWithAssertion(await h.assertion({ nbf: now() + 70, exp: now() + 130 })), 'nbf +70 s');
  });

  t.test('an assertion older than the profile maximum (300 s) is rejected', async (t) => {
    t.equal(h.gateway.context.profile.clientAssertion.maxAgeSeconds, 300);
    rejected(t, await parWithAssertion(await h.assertion({ iat: now() - 400 })), 'iat 400 s ago');
    accepted(t, await parWithAssertion(await h.assertion({ iat: now() - 200 })), 'iat 200 s ago is within the maximum');
  });

  t.test('signed by a key that is not registered', async (t) => {
    const { privateKey } = await generateKeyPair('ES256');
    rejected(t, await parWithAssertion(await h.assertion({}, { key: privateKey })), "another key under client-one's kid");
    rejected(t, await parWithAssertion(await h.assertion({}, { key: privateKey, header: { kid: 'unknown-kid' } })), 'an unknown kid');
    rejected(t, await parWithAssertion(await h.assertion({ iss: 'client-two', sub: 'client-two' }, { clientId: 'client-two' }), { client_id: undefined }), "client-two's key (a tls_client_auth client)");
    const embedded = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) };
    rejected(t, await parWithAssertion(await h.assertion({}, { key: privateKey, header: { jwk: embedded, kid: undefined } })), 'a key embedded in the header (jwk)');
    rejected(t, await parWithAssertion(await h.assertion({}, { key: privateKey, header: { jku: 'https://attacker.example/jwks' } })), 'a key set named in the header (jku)');
  });

  t.test('signing algorithms outside the profile', async (t) => {
    const rsa = await generateKeyPair('RS256', { modulusLength: 2048 });
    rejected(t, await parWithAssertion(await h.assertion({}, { key: rsa.privateKey, header: { alg: 'RS256' } })), 'RS256');
    rejected(t, await parWithAssertion(await h.assertion({}, { key: randomBytes(32), header: { alg: 'HS256' } })), 'HS256');
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const n = now();
    const payload = { iss: 'client-one', sub: 'client-one', aud: h.issuer, iat: n, exp: n + 60, jti: randomUUID() };
    rejected(t, await parWithAssertion(`${b64({ alg: 'none' })}.${b64(payload)}.`), 'alg none');
    rejected(t, await parWithAssertion(`${b64({ alg: 'none', kid: clientOneJwk.kid })}.${b64({ ...payload, jti: randomUUID() })}.`), 'alg none with a kid');
  });

  t.test('client_id differing from the assertion issuer', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion(), { client_id: 'client-two' }));
  });

  t.test('client secrets are refused', async (t) => {
    rejected(t, await parWithAssertion(await h.assertion(), { client_secret: 'secret' }), 'client_secret beside a valid assertion');
    rejected(t, await h.post('/par', { ...parForm(), client_secret: 'secret' }), 'client_secret alone');
    const basic = 'Basic ' + Buffer.from('client-one:secret').toString('base64');
    rejected(t, await parWithAssertion(await h.assertion(), {}, { headers: { authorization: basic } }), 'Basic header beside a valid assertion');
    const alone = await h.post('/par', parForm(), { headers: { authorization: basic } });
    rejected(t, alone, 'Basic header alone');
    t.match(alone.headers['www-authenticate'], /^Basic realm=/, 'RFC 6749 §5.2: a challenge for the scheme the client tried');
  });

  t.test('a private_key_jwt client cannot authenticate with its certificate only', async (t) => {
    rejected(t, await parAsMtlsClient('client-one', 'client-one'));
  });

  t.test('no client authentication at all', async (t) => {
    rejected(t, await h.post('/par', parForm({ client_id: undefined }), { client: null }));
  });

  t.test('the assertion never reaches the logs', async (t) => {
    t.ok(sentAssertions.length > 20);
    const logged = sentAssertions.filter((a) => h.logs.some((line) => line.includes(a)));
    t.equal(logged.length, 0);
  });
});

t.test('tls_client_auth by subject DN (client-two)', async (t) => {
  t.test('accepted with its certificate', async (t) => {
    accepted(t, await parAsMtlsClient('client-two', 'client-two'));
  });

  t.test('rejected without a certificate', async (t) => {
    rejected(t, await parAsMtlsClient('client-two', null));
  });

  t.test("rejected with client-one's certificate (subject DN mismatch)", async (t) => {
    rejected(t, await parAsMtlsClient('client-two', 'client-one'));
  });

  t.test('rejected with a certificate from an untrusted CA with the same subject DN', async (t) => {
    const forged = await issueCertificate({ subject: 'C=AU, O=fapi-gateway demo, CN=client-two', usage: 'client' }, rogueCa);
    t.ok(sameDn(normalizeCertificateSubject(forged.cert), normalizeDnString('CN=client-two,O=fapi-gateway demo,C=AU')), 'the forged subject matches');
    rejected(t, await parAsMtlsClient('client-two', agentFor(forged)));
    const selfSignedTwin = await issueCertificate({ subject: 'C=AU, O=fapi-gateway demo, CN=client-two', usage: 'client' });
    rejected(t, await parAsMtlsClient('client-two', agentFor(selfSignedTwin)), 'self-signed, same subject DN');
  });

  t.test('the subject DN compares case- and space-insensitively but in order (certificates from another trusted CA)', async (t) => {
    const differentCase = await issueCertificate({ subject: 'C=au, O=FAPI-Gateway  Demo, CN=Client-Two', usage: 'client' }, extraCa);
    accepted(t, await parAsMtlsClient('client-two', agentFor(differentCase)), 'case and spaces differ');
    const reversed = await issueCertificate({ subject: 'CN=client-two, O=fapi-gateway demo, C=AU', usage: 'client' }, extraCa);
    rejected(t, await parAsMtlsClient('client-two', agentFor(reversed)), 'RDNs in the other order');
    const extraRdn = await issueCertificate({ subject: 'C=AU, O=fapi-gateway demo, OU=x, CN=client-two', usage: 'client' }, extraCa);
    rejected(t, await parAsMtlsClient('client-two', agentFor(extraRdn)), 'one RDN more');
  });

  t.test('rejected with a certificate from a trusted CA that is expired, not yet valid, or not for client authentication', async (t) => {
    const subject = 'C=AU, O=fapi-gateway demo, CN=client-two';
    const day = 86_400_000;
    const expired = await issueCertificate({ subject, usage: 'client', notBefore: new Date(Date.now() - 400 * day), validDays: 10 }, extraCa);
    rejected(t, await parAsMtlsClient('client-two', agentFor(expired)), 'expired');
    const early = await issueCertificate({ subject, usage: 'client', notBefore: new Date(Date.now() + 10 * day), validDays: 10 }, extraCa);
    rejected(t, await parAsMtlsClient('client-two', agentFor(early)), 'not yet valid');
    const serverOnly = await issueCertificate({ subject, usage: 'server' }, extraCa);
    rejected(t, await parAsMtlsClient('client-two', agentFor(serverOnly)), 'extended key usage serverAuth only');
    const good = await issueCertificate({ subject, usage: 'client' }, extraCa);
    accepted(t, await parAsMtlsClient('client-two', agentFor(good)), 'the same subject, valid, from that CA');
  });

  t.test("another client's client_id with client-two's certificate", async (t) => {
    rejected(t, await parAsMtlsClient('client-san', 'client-two'), 'client-san');
    rejected(t, await parAsMtlsClient('nobody', 'client-two'), 'an unknown client');
  });
});

t.test('tls_client_auth by SAN (dNSName)', async (t) => {
  t.test('accepted with a certificate carrying the registered DNS name from a trusted CA', async (t) => {
    const cert = await issueCertificate({ subject: 'O=fapi-gateway test, CN=anything', dns: ['other.example.com', SAN_DNS], usage: 'client' }, extraCa);
    accepted(t, await parAsMtlsClient('client-san', agentFor(cert)));
    const upper = await issueCertificate({ subject: 'O=fapi-gateway test, CN=anything', dns: [SAN_DNS.toUpperCase()], usage: 'client' }, extraCa);
    accepted(t, await parAsMtlsClient('client-san', agentFor(upper)), 'DNS names compare case-insensitively');
  });

  t.test('rejected when no SAN matches', async (t) => {
    const other = await issueCertificate({ subject: `O=fapi-gateway test, CN=${SAN_DNS}`, dns: ['other.example.com'], usage: 'client' }, extraCa);
    rejected(t, await parAsMtlsClient('client-san', agentFor(other)), 'another DNS name (the CN holding the name does not count)');
    const sub = await issueCertificate({ subject: 'O=fapi-gateway test, CN=x', dns: [`www.${SAN_DNS}`], usage: 'client' }, extraCa);
    rejected(t, await parAsMtlsClient('client-san', agentFor(sub)), 'a subdomain');
    const uri = await issueCertificate({ subject: 'O=fapi-gateway test, CN=x', uris: [`https://${SAN_DNS}`], usage: 'client' }, extraCa);
    rejected(t, await parAsMtlsClient('client-san', agentFor(uri)), 'the name as a URI SAN');
    rejected(t, await parAsMtlsClient('client-san', 'client-two'), 'no SAN at all');
  });

  t.test('rejected with a CA:TRUE certificate from a trusted CA, though the handshake verified it', async (t) => {
    const caLeaf = await issueCertificate({ subject: 'O=fapi-gateway test, CN=x', dns: [SAN_DNS], usage: 'client', basicConstraintsCa: true }, extraCa);
    const res = await parAsMtlsClient('client-san', agentFor(caLeaf));
    rejected(t, res);
    t.equal(res.json?.error_description, 'a CA certificate cannot be a client certificate');
  });

  t.test('a certificate that expires during a long-lived connection is refused from then on', async (t) => {
    const notAfter = Math.floor((Date.now() + 8_000) / 1000) * 1000;
    const shortLived = await issueCertificate(
      { subject: 'O=fapi-gateway test, CN=x', dns: [SAN_DNS], usage: 'client', notBefore: new Date(notAfter - 86_400_000), validDays: 1 },
      extraCa,
    );
    let handshakes = 0;
    const countHandshake = () => handshakes++;
    h.gateway.mtls.server.on('secureConnection', countHandshake);
    t.teardown(() => h.gateway.mtls.server.off('secureConnection', countHandshake));
    const agent = agentFor(shortLived);
    const first = await parAsMtlsClient('client-san', agent);
    if (Date.now() < notAfter) accepted(t, first, 'while valid');
    else t.comment('the machine was too slow to use the certificate while it was valid');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, notAfter - Date.now()) + 1_500));
    const later = await parAsMtlsClient('client-san', agent);
    rejected(t, later, 'once expired');
    t.equal(later.json?.error_description, 'the client certificate has expired');
    t.equal(handshakes, 1, 'both requests went over the one connection');
  });

  t.test('rejected from an untrusted CA even with the registered DNS name', async (t) => {
    const forged = await issueCertificate({ subject: 'O=fapi-gateway test, CN=x', dns: [SAN_DNS], usage: 'client' }, rogueCa);
    rejected(t, await parAsMtlsClient('client-san', agentFor(forged)));
  });

  t.test('rejected without a certificate', async (t) => {
    rejected(t, await parAsMtlsClient('client-san', null));
  });
});

t.test('self_signed_tls_client_auth', async (t) => {
  t.test('accepted with the certificate registered in its JWKS (x5c)', async (t) => {
    accepted(t, await parAsMtlsClient('client-self', agentFor(selfSigned)));
  });

  t.test('rejected with another self-signed certificate, even with the same subject and key type', async (t) => {
    const other = await issueCertificate({ subject: 'O=self-signed client, CN=client-self', usage: 'client' });
    rejected(t, await parAsMtlsClient('client-self', agentFor(other)));
  });

  t.test('rejected with a CA-issued certificate and without one', async (t) => {
    rejected(t, await parAsMtlsClient('client-self', 'client-two'), "client-two's certificate");
    rejected(t, await parAsMtlsClient('client-self', null), 'no certificate');
  });

  t.test('the registered certificate does not authenticate another client', async (t) => {
    rejected(t, await parAsMtlsClient('client-two', agentFor(selfSigned)));
  });

  t.test('rejected with a registered certificate that is expired, not yet valid, a CA, or not for client authentication', async (t) => {
    const cases = [
      ['expired', 'the client certificate has expired'],
      ['notYetValid', 'the client certificate is not yet valid'],
      ['ca', 'a CA certificate cannot be a client certificate'],
      ['serverOnly', 'the client certificate is not for TLS client authentication'],
    ] as const;
    for (const [which, description] of cases) {
      const res = await parAsMtlsClient('client-self-bad', agentFor(selfSignedUnfit[which]));
      rejected(t, res, which);
      t.equal(res.json?.error_description, description);
    }
  });

  t.test('the registration holds the thumbprint of the x5c certificate', async (t) => {
    const thumbprint = createHash('sha256').update(Buffer.from(selfSigned.cert.rawData)).digest('base64url');
    t.ok((await h.gateway.context.clients.get('client-self'))!.certificateThumbprints.has(thumbprint));
  });
});

t.test('RFC 4514 distinguished names (src/tls/distinguished-name.ts)', async (t) => {
  const same = (a: string, b: string) => sameDn(normalizeDnString(a), normalizeDnString(b));
  const registered = 'CN=client-two,O=fapi-gateway demo,C=AU';

  t.test('values compare ignoring case and insignificant spaces', async (t) => {
    t.ok(same(registered, 'CN=CLIENT-TWO,O=FAPI-Gateway Demo,C=au'));
    t.ok(same(registered, 'CN=client-two,O=fapi-gateway   demo,C=AU'), 'runs of spaces inside a value');
    t.ok(same(registered, 'CN=client-two, O=fapi-gateway demo, C=AU'), 'spaces after separators');
    t.ok(same(registered, 'CN=\\ client-two\\ ,O=fapi-gateway demo,C=AU'), 'escaped leading and trailing spaces');
    t.notOk(same(registered, 'CN=client-2,O=fapi-gateway demo,C=AU'), 'a different value');
    t.notOk(same(registered, 'CN=client-two,O=fapi-gatewaydemo,C=AU'), 'inner spaces are not removed');
  });

  t.test('attribute types compare case-insensitively and by OID', async (t) => {
    t.ok(same(registered, 'cn=client-two,o=fapi-gateway demo,c=AU'));
    t.ok(same(registered, '2.5.4.3=client-two,2.5.4.10=fapi-gateway demo,2.5.4.6=AU'));
    t.notOk(same(registered, 'OU=client-two,O=fapi-gateway demo,C=AU'), 'another attribute type');
  });

  t.test('RDN order matters, and so does their number', async (t) => {
    t.notOk(same(registered, 'C=AU,O=fapi-gateway demo,CN=client-two'));
    t.notOk(same(registered, 'O=fapi-gateway demo,CN=client-two,C=AU'));
    t.notOk(same(registered, 'CN=client-two,O=fapi-gateway demo'));
    t.notOk(same(registered, 'CN=client-two,OU=unit,O=fapi-gateway demo,C=AU'));
  });

  t.test('multi-valued RDNs: the attributes inside one RDN are a set', async (t) => {
    t.ok(same('CN=client+OU=payments,O=Bank,C=AU', 'OU=payments+CN=client,O=Bank,C=AU'));
    t.notOk(same('CN=client+OU=payments,O=Bank,C=AU', 'CN=client,OU=payments,O=Bank,C=AU'), 'not the same as two RDNs');
    t.notOk(same('CN=client+OU=payments,O=Bank,C=AU', 'CN=client\\+OU=payments,O=Bank,C=AU'), 'not the same as an escaped plus');
  });

  t.test('escaped commas (and hex escapes) belong to the value', async (t) => {
    t.equal(normalizeDnString('CN=Smith\\, John,O=Acme').length, 2);
    t.ok(same('CN=Smith\\, John,O=Acme', 'CN=smith\\2c john,O=acme'), 'the \\2C hex form');
    t.notOk(same('CN=Smith\\, John,O=Acme', 'CN=Smith,CN=John,O=Acme'));
    t.ok(same('CN=caf\\C3\\A9,O=Acme', 'CN=café,O=Acme'), 'UTF-8 hex escapes');
  });

  t.test('certificate subjects (ASN.1 order) match the RFC 4514 string (reverse order)', async (t) => {
    const cert = await issueCertificate({ subject: 'C=AU, O=Acme\\, Inc, OU=payments+CN=Client', usage: 'client' });
    t.ok(sameDn(normalizeCertificateSubject(cert.cert), normalizeDnString('cn=client+ou=Payments,O=acme\\, inc,C=au')));
    t.notOk(sameDn(normalizeCertificateSubject(cert.cert), normalizeDnString('C=AU,O=Acme\\, Inc,CN=Client+OU=payments')));
    const two = new (await import('../src/tls/x509.js')).x509.X509Certificate(await readFile(h.pki.clients['client-two'].cert));
    t.ok(sameDn(normalizeCertificateSubject(two), normalizeDnString(registered)));
  });

  t.test('a string that is not a DN is refused, never read as an empty or partial DN', async (t) => {
    for (const bad of ['', '   ', 'client-two', 'CN=a,', 'CN=a,,O=b', 'NOTATYPE=a', 'CN=a;O=b', 'CN=a\\', 'CN=\\C3(', 'CN="quoted"'])
      t.throws(() => normalizeDnString(bad), `refuses ${JSON.stringify(bad)}`);
  });
});
