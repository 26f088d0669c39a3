// verifyJwt (src/keys/jwt-verify.ts) must answer every JWT exactly as jose's jwtVerify does: the
// same payload, or an error of the same class with the same message (and claim and reason), for
// the fast path's usual shapes and for everything it hands back to jose.
import t, { type Test } from 'tap';
import { constants, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { base64url, createLocalJWKSet, decodeJwt, errors, exportJWK, jwtVerify, SignJWT, type JWK, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { decodeJwtClaims, verifyJwt } from '../src/keys/jwt-verify.js';

const now = Math.floor(Date.now() / 1000);
const claims = { iss: 'client-one', sub: 'client-one', aud: 'https://as.example', iat: now, exp: now + 60, jti: 'j-1' };
const options: JWTVerifyOptions & { algorithms: string[] } = { algorithms: ['ES256', 'PS256', 'EdDSA'], clockTolerance: 5, requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'] };

async function keyPair(alg: 'ES256' | 'PS256' | 'EdDSA', kid: string, modulusLength = 2048) {
  const pair =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : alg === 'PS256' ? generateKeyPairSync('rsa', { modulusLength }) : generateKeyPairSync('ed25519');
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
  return { privateKey: pair.privateKey, publicJwk };
}

const es = await keyPair('ES256', 'es');
const ps = await keyPair('PS256', 'ps');
const ed = await keyPair('EdDSA', 'ed');
const weak = await keyPair('PS256', 'weak', 1024);
const keys = createLocalJWKSet({ keys: [es.publicJwk, ps.publicJwk, ed.publicJwk, weak.publicJwk] });

const sign = (key: { privateKey: Parameters<SignJWT['sign']>[0] }, header: Record<string, unknown>, body: Record<string, unknown> = claims) =>
  new SignJWT(body).setProtectedHeader(header as never).sign(key.privateKey);

/** An ES256 JWS of any header and payload text, signed by node:crypto (jose refuses to sign some of them). */
function signRaw(header: Record<string, unknown>, payload: string | Uint8Array): string {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(payload)}`;
  return `${input}.${nodeSign('sha256', Buffer.from(input), { key: es.privateKey as KeyObject, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** The outcome of a verification, comparable with t.same. */
async function outcome(verify: () => Promise<{ payload: unknown; protectedHeader?: unknown }>) {
  try {
    const { payload, protectedHeader } = await verify();
    return { payload, protectedHeader };
  } catch (err) {
    const e = err as Error & { claim?: string; reason?: string; code?: string };
    return { error: e.constructor.name, code: e.code, message: e.message, claim: e.claim, reason: e.reason };
  }
}

async function same(t: Test, name: string, jwt: string, getKey: JWTVerifyGetKey = keys, opts = options) {
  const expected = await outcome(() => jwtVerify(jwt, getKey, opts));
  t.same(await outcome(() => verifyJwt(jwt, getKey, opts)), expected, `${name}: ${expected.error ?? 'verified'}`);
  // And decoding without verifying, as jose's decodeJwt does.
  const decoded = await outcome(async () => ({ payload: decodeJwt(jwt) }));
  t.same(await outcome(async () => ({ payload: decodeJwtClaims(jwt) })), decoded, `${name}, decoded: ${decoded.error ?? 'decoded'}`);
  return expected;
}

t.test('valid JWTs of each algorithm: the same payload and header', async (t) => {
  for (const [key, alg, kid] of [[es, 'ES256', 'es'], [ps, 'PS256', 'ps'], [ed, 'EdDSA', 'ed']] as const) {
    const result = await same(t, alg, await sign(key, { alg, kid }));
    t.same(result.payload, claims, `${alg} verified`);
  }
  const noKid = createLocalJWKSet({ keys: [es.publicJwk] });
  t.same((await same(t, 'the only key, no kid', await sign(es, { alg: 'ES256' }), noKid)).payload, claims);
});

t.test('signatures that do not verify', async (t) => {
  const jwt = await sign(es, { alg: 'ES256', kid: 'es' });
  const [h, p, s] = jwt.split('.');
  await same(t, 'another payload', `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'x' }))}.${s}`);
  await same(t, 'a flipped signature byte', `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`);
  await same(t, 'a short signature', `${h}.${p}.${s.slice(0, 40)}`);
  await same(t, 'signed by another key', await sign(await keyPair('ES256', 'es'), { alg: 'ES256', kid: 'es' }));
  await same(t, 'an ES256 header over a PS256 signature', `${h}.${p}.${(await sign(ps, { alg: 'PS256', kid: 'ps' })).split('.')[2]}`);
});

t.test('claims: jose’s checks, with the tolerance', async (t) => {
  const variants: Record<string, Record<string, unknown>> = {
    expired: { ...claims, exp: now - 10 },
    'expired within the tolerance': { ...claims, exp: now - 2 },
    'nbf in the future': { ...claims, nbf: now + 60 },
    'iat not a number': { ...claims, iat: 'now' },
    'exp not a number': { ...claims, exp: 'later' },
    'no jti': { ...claims, jti: undefined },
    'no aud': { ...claims, aud: undefined },
    'no iss or sub': { ...claims, iss: undefined, sub: undefined },
  };
  for (const [name, body] of Object.entries(variants)) {
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    await same(t, name, await sign(es, { alg: 'ES256', kid: 'es' }, body));
  }
  const jwt = await sign(es, { alg: 'ES256', kid: 'es' });
  await same(t, 'issuer and audience options met', jwt, keys, { ...options, issuer: 'client-one', audience: 'https://as.example' });
  await same(t, 'another issuer expected', jwt, keys, { ...options, issuer: 'client-two' });
  await same(t, 'another audience expected', jwt, keys, { ...options, audience: 'https://other.example' });
  await same(t, 'a typ expected', jwt, keys, { ...options, typ: 'oauth-authz-req+jwt' });
  await same(t, 'one of several issuers', jwt, keys, { ...options, issuer: ['client-two', 'client-one'] });
  await same(t, 'one of several audiences', jwt, keys, { ...options, audience: ['https://other.example', 'https://as.example'] });
  const arrayAud = await sign(es, { alg: 'ES256', kid: 'es' }, { ...claims, aud: ['https://x.example', 'https://as.example'] });
  await same(t, 'aud an array that names the audience', arrayAud, keys, { ...options, audience: 'https://as.example' });
  await same(t, 'aud an array that does not', arrayAud, keys, { ...options, audience: 'https://other.example' });
  await same(t, 'a tolerance in words', jwt, keys, { ...options, clockTolerance: '5s' });
  await same(t, 'maxTokenAge', jwt, keys, { ...options, maxTokenAge: 1 });
  await same(t, 'no options but algorithms', jwt, keys, { algorithms: ['ES256'] });
  const requestObjectOptions = { algorithms: ['ES256'], issuer: 'client-one', audience: 'https://as.example', clockTolerance: 5, requiredClaims: ['iss', 'aud', 'exp', 'nbf'] };
  await same(t, 'request object claims: no nbf', jwt, keys, requestObjectOptions);
  await same(t, 'request object claims: nbf', await sign(es, { alg: 'ES256', kid: 'es' }, { ...claims, nbf: now }), keys, requestObjectOptions);
  const bare = await sign(es, { alg: 'ES256', kid: 'es' }, { jti: 'x' });
  await same(t, 'request object claims: none of them', bare, keys, requestObjectOptions);
  await same(t, 'a nbf that is not a number', await sign(es, { alg: 'ES256', kid: 'es' }, { ...claims, nbf: 'soon' }));
  await same(t, 'a payload that is not JSON', signRaw({ alg: 'ES256', kid: 'es' }, 'not json'));
  await same(t, 'a payload that is an array', signRaw({ alg: 'ES256', kid: 'es' }, '[1]'));
  await same(t, 'a payload that is not UTF-8', signRaw({ alg: 'ES256', kid: 'es' }, Buffer.from('{"iss":"\xff"}', 'latin1')));
});

t.test('headers, algorithms and keys', async (t) => {
  await same(t, 'alg not allowed', await sign(es, { alg: 'ES256', kid: 'es' }), keys, { ...options, algorithms: ['PS256'] });
  await same(t, 'no matching kid', await sign(es, { alg: 'ES256', kid: 'nobody' }));
  const twoEs = createLocalJWKSet({ keys: [es.publicJwk, { ...(await keyPair('ES256', 'es2')).publicJwk, kid: undefined }] });
  await same(t, 'several keys match', await sign(es, { alg: 'ES256' }), twoEs);
  // jose does not sign with it: node:crypto does.
  const input = `${base64url.encode('{"alg":"PS256","kid":"weak"}')}.${base64url.encode(JSON.stringify(claims))}`;
  const weakSignature = nodeSign('sha256', Buffer.from(input), { key: weak.privateKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  await same(t, 'an RSA key under 2048 bits', `${input}.${weakSignature.toString('base64url')}`);
  await same(t, 'crit', await sign(es, { alg: 'ES256', kid: 'es', crit: ['b64'], b64: true }));
  await same(t, 'an unknown crit', signRaw({ alg: 'ES256', kid: 'es', crit: ['x-ext'], 'x-ext': 1 }, JSON.stringify(claims)));
  await same(t, 'b64 false without crit', signRaw({ alg: 'ES256', kid: 'es', b64: false }, JSON.stringify(claims)));
  await same(t, 'a header that is an array', signRaw(['ES256'] as never, JSON.stringify(claims)));
  await same(t, 'typ in the header', await sign(es, { alg: 'ES256', kid: 'es', typ: 'JWT' }));
  const unsigned = `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify(claims))}.`;
  await same(t, 'alg none', unsigned);
  await same(t, 'a header that is not JSON', `${base64url.encode('{alg')}.${unsigned.split('.')[1]}.AAAA`);
  const keyFromFunction: JWTVerifyGetKey = async () => es.publicJwk as never;
  await same(t, 'a key resolver that returns a JWK', await sign(es, { alg: 'ES256', kid: 'es' }), keyFromFunction);
  const failing: JWTVerifyGetKey = async () => {
    throw new errors.JWKSNoMatchingKey();
  };
  await same(t, 'a key resolver that fails', await sign(es, { alg: 'ES256', kid: 'es' }), failing);
});

t.test('encodings node and jose might read differently go to jose', async (t) => {
  const jwt = await sign(es, { alg: 'ES256', kid: 'es' });
  const [h, p, s] = jwt.split('.');
  await same(t, 'padding', `${h}.${p}.${s}==`);
  await same(t, 'standard base64 characters', `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`);
  await same(t, 'whitespace', `${h}.${p}. ${s}`);
  await same(t, 'a segment of length 4n+1', `${h}.${p}.${s}A`);
  await same(t, 'four segments', `${jwt}.AAAA`);
  await same(t, 'two segments', `${h}.${p}`);
  await same(t, 'not a string', 42 as unknown as string);
});
