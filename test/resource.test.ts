import t, { type Test } from 'tap';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type Harness, type Response } from './helpers/harness.js';
import { clientPost, fullFlow, issueTestClientCertificate, mtlsGet, userinfo } from './helpers/flow.js';

// UserInfo as the protected resource: the token guard every resource shares (RFC 6750, RFC 8705 §3,
// FAPI 2.0 §5.3.3, OIDC Core §5.3).

let h: Harness;
let tokens: Record<string, any>;
t.before(async () => {
  h = await startGateway();
  ({ tokens } = await fullFlow(h, 'client-one', { scope: 'openid profile accounts' }));
});
t.teardown(() => h.close());

const describe = (res: Response) => `${res.status} ${res.text.slice(0, 300)}`;

function refused(t: Test, res: Response, status: number, error: string | undefined): void {
  t.equal(res.status, status, `status ${status}${res.status === status ? '' : ` (${describe(res)})`}`);
  const challenge = String(res.headers['www-authenticate'] ?? '');
  t.match(challenge, /^Bearer\b/i, 'WWW-Authenticate: Bearer');
  if (error) {
    t.match(challenge, new RegExp(`error="${error}"`), `error="${error}" in the challenge`);
    t.equal(res.json?.error, error, `error ${error} in the body`);
  } else {
    t.equal(challenge, 'Bearer', 'no error attribute when no token was sent (RFC 6750 §3.1)');
  }
  t.ok(res.headers.date, 'Date header');
  t.notMatch(res.text, /alice|Alice/, 'nothing about the user');
}

t.test('works over the bound certificate', async (t) => {
  const res = await userinfo(h, tokens.access_token);
  t.equal(res.status, 200, describe(res));
  t.equal(res.json.sub, 'alice-7f3c');
  t.equal(res.json.name, 'Alice Example', 'profile scope releases name');
  t.notOk('email' in res.json, 'no email without the email scope');
  t.ok(res.headers.date, 'Date header');
  t.match(String(res.headers['content-type']), /^application\/json/);
  t.match(String(res.headers['cache-control']), /no-store/);
  const post = await h.post('/userinfo', '', { headers: { authorization: `Bearer ${tokens.access_token}` } });
  t.equal(post.status, 200, 'POST works too');
});

t.test("another client's certificate: 401 invalid_token", async (t) => {
  refused(t, await userinfo(h, tokens.access_token, 'client-two'), 401, 'invalid_token');
});

t.test("another certificate for the same client's identity: 401 invalid_token", async (t) => {
  const other = await issueTestClientCertificate(h, 'C=AU, O=fapi-gateway demo, CN=client-one');
  refused(t, await userinfo(h, tokens.access_token, h.agent(other)), 401, 'invalid_token');
});

t.test('no certificate: 401 invalid_token', async (t) => {
  refused(t, await userinfo(h, tokens.access_token, null), 401, 'invalid_token');
});

t.test('the scheme name is case-insensitive', async (t) => {
  for (const scheme of ['bEARER', 'bearer', 'BEARER']) {
    const res = await mtlsGet(h, '/userinfo', 'client-one', { authorization: `${scheme} ${tokens.access_token}` });
    t.equal(res.status, 200, scheme);
  }
});

t.test('a token in the query string is refused', async (t) => {
  const res = await mtlsGet(h, `/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`);
  refused(t, res, 400, 'invalid_request');
  const both = await mtlsGet(h, `/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`, 'client-one', { authorization: `Bearer ${tokens.access_token}` });
  t.equal(both.status, 400, 'even alongside the header');
  const body = await h.post('/userinfo', { access_token: tokens.access_token });
  refused(t, body, 400, 'invalid_request');
});

t.test('no Authorization header: 401 with a bare Bearer challenge', async (t) => {
  refused(t, await mtlsGet(h, '/userinfo'), 401, undefined);
});

t.test('other schemes and malformed headers', async (t) => {
  for (const authorization of [`Basic ${Buffer.from('a:b').toString('base64')}`, `DPoP ${tokens.access_token}`, 'Bearer', 'Bearer a b', `Bearer  `]) {
    const res = await mtlsGet(h, '/userinfo', 'client-one', { authorization });
    t.ok(res.status === 400 || res.status === 401, `${authorization.slice(0, 12)}…: ${res.status}`);
    t.match(String(res.headers['www-authenticate']), /^Bearer/);
  }
});

t.test('an expired token: 401 invalid_token', async (t) => {
  const short = await startGateway({ configure: (config) => void (config.policy = { lifetimes: { accessToken: 1 } }) });
  t.teardown(() => short.close());
  const { tokens: shortLived } = await fullFlow(short);
  t.equal(shortLived.expires_in, 1);
  await sleep(2100);
  refused(t, await userinfo(short, shortLived.access_token), 401, 'invalid_token');
});

t.test('a token signed by a foreign key: 401 invalid_token', async (t) => {
  const claims = decodeJwt(tokens.access_token);
  const header = decodeProtectedHeader(tokens.access_token);
  const { privateKey } = await generateKeyPair('ES256');
  const forge = (kid: string | undefined, alg: string, key: CryptoKey) =>
    new SignJWT(claims as JWTPayload).setProtectedHeader({ alg, typ: 'at+jwt', ...(kid ? { kid } : {}) }).sign(key);
  t.test('same kid as the server key', async (t) => refused(t, await userinfo(h, await forge(header.kid, 'ES256', privateKey)), 401, 'invalid_token'));
  t.test('the server ES256 kid', async (t) => refused(t, await userinfo(h, await forge('dev-es256-1', 'ES256', privateKey)), 401, 'invalid_token'));
  t.test('its own kid', async (t) => refused(t, await userinfo(h, await forge('attacker', 'ES256', privateKey)), 401, 'invalid_token'));
  t.test('no kid', async (t) => refused(t, await userinfo(h, await forge(undefined, 'ES256', privateKey)), 401, 'invalid_token'));
  t.test('alg none', async (t) => {
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${tokens.access_token.split('.')[1]}.`;
    refused(t, await userinfo(h, none), 401, 'invalid_token');
  });
  t.test('a modified payload with the original signature', async (t) => {
    const [head, , signature] = tokens.access_token.split('.');
    const payload = Buffer.from(JSON.stringify({ ...claims, scope: 'openid profile email accounts transactions' })).toString('base64url');
    refused(t, await userinfo(h, `${head}.${payload}.${signature}`), 401, 'invalid_token');
  });
});

t.test('a token without openid (client_credentials): 403 insufficient_scope', async (t) => {
  const cc = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' });
  t.equal(cc.status, 200);
  const res = await userinfo(h, cc.json.access_token);
  t.equal(res.status, 403);
  t.match(String(res.headers['www-authenticate']), /^Bearer .*error="insufficient_scope"/);
  t.match(String(res.headers['www-authenticate']), /scope="openid"/);
  t.equal(res.json?.error, 'insufficient_scope');
});

t.test('a revoked token: 401 invalid_token', async (t) => {
  const { tokens: own } = await fullFlow(h);
  t.equal((await userinfo(h, own.access_token)).status, 200);
  const revoked = await clientPost(h, '/revoke', { token: own.access_token });
  t.equal(revoked.status, 200);
  refused(t, await userinfo(h, own.access_token), 401, 'invalid_token');
});

t.test('Accept headers', async (t) => {
  for (const accept of ['application/json; charset=utf-8', '*/*', 'application/json', 'application/jwt, application/json;q=0.5']) {
    const res = await userinfo(h, tokens.access_token, 'client-one', { accept });
    t.equal(res.status, 200, `Accept: ${accept}`);
    t.ok(res.headers.date, 'Date header');
  }
});

t.test('every response has a Date header', async (t) => {
  for (const res of [await mtlsGet(h, '/userinfo'), await userinfo(h, tokens.access_token), await mtlsGet(h, '/nowhere')]) t.ok(res.headers.date, `Date on ${res.status}`);
});
