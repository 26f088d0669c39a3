import t, { type Test } from 'tap';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLIENT_ONE_DN } from '../src/devpki/dev-pki.js';
import { parForm, startGateway, type Harness, type Response } from './helpers/harness.js';
import {
  authorize,
  clientPost,
  fullFlow,
  issueTestClientCertificate,
  mtlsGet,
  pemThumbprint,
  pkce,
  push,
  redeem,
  refresh,
  userinfo,
} from './helpers/flow.js';

// The token endpoint (RFC 6749 §3.2, §4.1.3, §6, RFC 7636, RFC 8705, RFC 9068, OIDC Core §2, FAPI 2.0 §5.3.2.1).

let h: Harness;
let jwks: ReturnType<typeof createLocalJWKSet>;
let thumbprint: Record<'client-one' | 'client-two', string>;

t.before(async () => {
  h = await startGateway({
    configure: (config) => {
      // What alice's login reaches: the ID token claims an acr only when it was reached.
      config.users[0].acr = ['urn:cds.au:cdr:3'];
      // A client that may only use the authorization code grant; it authenticates with client-one's certificate.
      config.clients.push({
        client_id: 'client-three',
        client_name: 'Code-only client',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: CLIENT_ONE_DN,
        redirect_uris: ['https://client.localhost/callback'],
        scope: 'openid accounts',
        grant_types: ['authorization_code'],
      });
    },
  });
  const keys = await mtlsGet(h, `${h.issuer}/jwks`, null);
  jwks = createLocalJWKSet(keys.json as JSONWebKeySet);
  thumbprint = {
    'client-one': pemThumbprint(await readFile(h.pki.clients['client-one'].cert)),
    'client-two': pemThumbprint(await readFile(h.pki.clients['client-two'].cert)),
  };
});
t.teardown(() => h.close());

const describe = (res: Response) => `${res.status} ${res.text.slice(0, 300)}`;

/** Every token endpoint response, success or error, must not be cached. */
function noStore(t: Test, res: Response): void {
  t.match(String(res.headers['cache-control']), /\bno-store\b/, 'Cache-Control: no-store');
  t.equal(res.headers.pragma, 'no-cache', 'Pragma: no-cache');
}

function ok(t: Test, res: Response, label = ''): Record<string, any> {
  t.equal(res.status, 200, `${label ? label + ': ' : ''}200${res.status === 200 ? '' : ` (${describe(res)})`}`);
  noStore(t, res);
  t.match(String(res.headers['content-type']), /^application\/json/);
  return res.json;
}

function oauthError(t: Test, res: Response, error: string, status = 400): void {
  t.equal(res.status, status, `status ${status}${res.status === status ? '' : ` (${describe(res)})`}`);
  t.equal(res.json?.error, error, error);
  t.notOk(res.json?.access_token, 'no token issued');
  noStore(t, res);
}

/** A fresh code for `client` (the redirect after login and consent). */
async function code(client: 'client-one' | 'client-two' | 'client-three' = 'client-one', overrides: Record<string, string | undefined> = {}) {
  const pushed = await pushFor(client, overrides);
  const redirect = await authorize(h, pushed, { client: client as 'client-one' });
  return { pushed, code: redirect.searchParams.get('code')! };
}

async function pushFor(client: string, overrides: Record<string, string | undefined>) {
  if (client !== 'client-three') return push(h, client as 'client-one', overrides);
  // client-three authenticates by certificate (client-one's).
  const { verifier, challenge } = pkce();
  const form = parForm({ client_id: client, code_challenge: challenge, scope: 'openid accounts', ...overrides });
  const res = await h.post('/par', form, { client: 'client-one' });
  if (res.status !== 201) throw new Error(`PAR failed: ${describe(res)}`);
  return { requestUri: res.json.request_uri as string, verifier, state: form.state, nonce: form.nonce, form };
}

t.test('authorization_code: codes are long random values', async (t) => {
  const { code: value } = await code();
  t.match(value, /^[A-Za-z0-9_-]{43,}$/, 'at least 256 bits, base64url');
});

t.test('a code redeemed twice: invalid_grant, and what the first redemption issued is revoked', async (t) => {
  const { pushed, code: value } = await code();
  const first = ok(t, await redeem(h, value, pushed));
  t.equal((await userinfo(h, first.access_token)).status, 200, 'the first access token works');
  const second = await redeem(h, value, pushed);
  oauthError(t, second, 'invalid_grant');

  const info = await userinfo(h, first.access_token);
  t.equal(info.status, 401, 'the first access token is refused');
  t.match(String(info.headers['www-authenticate']), /error="invalid_token"/);
  oauthError(t, await refresh(h, first.refresh_token), 'invalid_grant');
});

t.test('10 concurrent redemptions of one code: exactly one succeeds', async (t) => {
  const { pushed, code: value } = await code();
  const results = await Promise.all(Array.from({ length: 10 }, () => redeem(h, value, pushed)));
  t.equal(results.filter((r) => r.status === 200).length, 1, 'one 200');
  const failures = results.filter((r) => r.status !== 200);
  t.equal(failures.length, 9);
  t.ok(failures.every((r) => r.status === 400 && r.json?.error === 'invalid_grant'), 'the rest: invalid_grant');
});

t.test('PKCE and redirect_uri binding', async (t) => {
  t.test('wrong code_verifier', async (t) => {
    const { pushed, code: value } = await code();
    oauthError(t, await redeem(h, value, pushed, 'client-one', { code_verifier: 'x'.repeat(43) }), 'invalid_grant');
  });
  t.test('malformed code_verifier', async (t) => {
    const { pushed, code: value } = await code();
    oauthError(t, await redeem(h, value, pushed, 'client-one', { code_verifier: 'short' }), 'invalid_grant');
  });
  t.test('missing code_verifier', async (t) => {
    const { pushed, code: value } = await code();
    oauthError(t, await redeem(h, value, pushed, 'client-one', { code_verifier: undefined }), 'invalid_grant');
  });
  t.test('redirect_uri mismatch', async (t) => {
    const { pushed, code: value } = await code();
    oauthError(t, await redeem(h, value, pushed, 'client-one', { redirect_uri: 'https://client.localhost/other' }), 'invalid_grant');
    oauthError(t, await redeem(h, value, pushed, 'client-one', { redirect_uri: 'https://client.localhost/callback/' }), 'invalid_grant');
  });
  t.test('missing redirect_uri', async (t) => {
    const { pushed, code: value } = await code();
    oauthError(t, await redeem(h, value, pushed, 'client-one', { redirect_uri: undefined }), 'invalid_request');
  });
  t.test('missing code', async (t) => {
    const { pushed } = await code();
    oauthError(t, await redeem(h, '', pushed), 'invalid_request');
  });
  t.test('unknown code', async (t) => {
    const { pushed } = await code();
    oauthError(t, await redeem(h, 'A'.repeat(43), pushed), 'invalid_grant');
  });
});

t.test("another client's code: invalid_grant", async (t) => {
  const { pushed, code: value } = await code('client-one');
  oauthError(t, await redeem(h, value, pushed, 'client-two'), 'invalid_grant');
  // Someone else's attempt does not burn it for its owner.
  ok(t, await redeem(h, value, pushed, 'client-one'));
});

t.test('a code older than its lifetime is refused', async (t) => {
  const short = await startGateway({ configure: (config) => void (config.policy = { lifetimes: { code: 1 } }) });
  t.teardown(() => short.close());
  const pushed = await push(short);
  const value = (await authorize(short, pushed)).searchParams.get('code')!;
  await sleep(2100);
  oauthError(t, await redeem(short, value, pushed), 'invalid_grant');
});

t.test('grant types', async (t) => {
  t.test('unknown grant_type: unsupported_grant_type', async (t) => {
    for (const grantType of ['password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer'])
      oauthError(t, await clientPost(h, '/token', { grant_type: grantType, username: 'alice', password: 'wonderland' }), 'unsupported_grant_type');
  });
  t.test('missing grant_type: invalid_request', async (t) => {
    oauthError(t, await clientPost(h, '/token', { code: 'x' }), 'invalid_request');
  });
  t.test('a grant the client is not registered for: unauthorized_client', async (t) => {
    const asThree = (form: Record<string, string>) => h.post('/token', { client_id: 'client-three', ...form }, { client: 'client-one' });
    oauthError(t, await asThree({ grant_type: 'client_credentials', scope: 'accounts' }), 'unauthorized_client');
    oauthError(t, await asThree({ grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) }), 'unauthorized_client');
    // The grant it is registered for works.
    const { pushed, code: value } = await code('client-three');
    ok(t, await asThree({ grant_type: 'authorization_code', code: value, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier }));
  });
});

t.test('client authentication and certificates at the token endpoint', async (t) => {
  t.test('private_key_jwt without a client certificate: invalid_request, no token', async (t) => {
    const { pushed, code: value } = await code();
    const form = { grant_type: 'authorization_code', code: value, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier, ...(await h.assertionForm()) };
    const res = await h.post('/token', form, { client: null });
    oauthError(t, res, 'invalid_request');
    const cc = await h.post('/token', { grant_type: 'client_credentials', ...(await h.assertionForm()) }, { client: null });
    oauthError(t, cc, 'invalid_request');
  });
  t.test('failed client authentication: 401 invalid_client', async (t) => {
    const { pushed, code: value } = await code();
    const base = { grant_type: 'authorization_code', code: value, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier };
    const foreignKey = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const forged = await h.assertion({}, { key: foreignKey.privateKey });
    const cases: [string, Record<string, string>, 'client-one' | 'client-two' | null][] = [
      ['assertion signed by another key', { ...base, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: forged }, 'client-one'],
      ['no client authentication', base, 'client-one'],
      ['unknown client', { ...base, client_id: 'nobody' }, 'client-one'],
      ['tls_client_auth without a certificate', { ...base, client_id: 'client-two' }, null],
      ["tls_client_auth with another client's certificate", { ...base, client_id: 'client-two' }, 'client-one'],
      ['a client secret', { ...base, client_id: 'client-one', client_secret: 'secret' }, 'client-one'],
    ];
    for (const [name, form, client] of cases) {
      t.test(name, async (t) => oauthError(t, await h.post('/token', form, { client }), 'invalid_client', 401));
    }
  });
  t.test('an assertion spent on a refused request cannot be used again; its replay is invalid_client whatever else is wrong', async (t) => {
    const auth = await h.assertionForm();
    oauthError(t, await h.post('/token', { grant_type: 'password', ...auth }, { client: 'client-one' }), 'unsupported_grant_type');
    oauthError(t, await h.post('/token', { grant_type: 'client_credentials', scope: 'accounts', ...auth }, { client: 'client-one' }), 'invalid_client', 401);
    oauthError(t, await h.post('/token', { grant_type: 'password', ...auth }, { client: 'client-one' }), 'invalid_client', 401);
  });
});

t.test('refresh_token', async (t) => {
  const { tokens } = await fullFlow(h);
  t.notOk(tokens.refresh_token === undefined, 'a refresh token with the code');

  t.test('works, without rotation by default', async (t) => {
    const body = ok(t, await refresh(h, tokens.refresh_token));
    t.ok(body.access_token);
    t.equal(body.token_type, 'Bearer');
    t.equal(body.scope, 'openid accounts');
    t.notOk('refresh_token' in body, 'no new refresh token');
    t.notOk('id_token' in body, 'no ID token on refresh');
    t.equal((await userinfo(h, body.access_token)).status, 200);
    ok(t, await refresh(h, tokens.refresh_token), 'the same refresh token keeps working');
  });

  t.test('the new access token is bound to the certificate of the refresh request', async (t) => {
    const other = await issueTestClientCertificate(h, 'C=AU, O=fapi-gateway demo, CN=client-one');
    const agent = h.agent(other);
    const body = ok(t, await refresh(h, tokens.refresh_token, 'client-one', { agent }));
    const cnf = decodeJwt(body.access_token).cnf as Record<string, string>;
    t.equal(cnf['x5t#S256'], pemThumbprint(other.cert), 'cnf is the new certificate');
    t.not(cnf['x5t#S256'], thumbprint['client-one']);
    t.equal((await userinfo(h, body.access_token, agent)).status, 200, 'works over the new certificate');
    t.equal((await userinfo(h, body.access_token, 'client-one')).status, 401, 'not over the old one');
    // And the token from the code is still bound to the first certificate.
    t.equal((decodeJwt(tokens.access_token).cnf as Record<string, string>)['x5t#S256'], thumbprint['client-one']);
  });

  t.test("another client's refresh token: invalid_grant", async (t) => {
    oauthError(t, await refresh(h, tokens.refresh_token, 'client-two'), 'invalid_grant');
    ok(t, await refresh(h, tokens.refresh_token, 'client-one'), 'still works for its owner');
  });

  t.test('unknown or missing refresh token', async (t) => {
    oauthError(t, await refresh(h, 'A'.repeat(43)), 'invalid_grant');
    oauthError(t, await clientPost(h, '/token', { grant_type: 'refresh_token' }), 'invalid_request');
  });

  t.test('scope narrowing works, widening is invalid_scope', async (t) => {
    const narrowed = ok(t, await refresh(h, tokens.refresh_token, 'client-one', { scope: 'accounts' }));
    t.equal(narrowed.scope, 'accounts');
    t.equal(decodeJwt(narrowed.access_token).scope, 'accounts');
    oauthError(t, await refresh(h, tokens.refresh_token, 'client-one', { scope: 'openid accounts transactions' }), 'invalid_scope');
    oauthError(t, await refresh(h, tokens.refresh_token, 'client-one', { scope: 'profile' }), 'invalid_scope');
    // Narrowing one access token does not narrow the refresh token.
    t.equal(ok(t, await refresh(h, tokens.refresh_token)).scope, 'openid accounts');
  });
});

t.test('refresh token rotation with a grace period', async (t) => {
  const rotating = await startGateway({ configure: (config) => void (config.policy = { refreshTokenRotation: { enabled: true, graceSeconds: 3 } }) });
  t.teardown(() => rotating.close());
  const { tokens } = await fullFlow(rotating);
  const old = tokens.refresh_token as string;

  const first = ok(t, await refresh(rotating, old));
  t.ok(first.refresh_token, 'a new refresh token');
  t.not(first.refresh_token, old);
  const again = ok(t, await refresh(rotating, old));
  t.ok(again.refresh_token, 'the old one still works right after the rotation');
  const next = ok(t, await refresh(rotating, first.refresh_token), 'the new one works');
  t.ok(next.refresh_token, 'and rotates in turn');

  await sleep(2000);
  ok(t, await refresh(rotating, old), 'the old one works within the grace period');
  await sleep(1600);
  // The grace period runs from the rotation: using the old token during it does not extend it.
  oauthError(t, await refresh(rotating, old), 'invalid_grant');
  ok(t, await refresh(rotating, next.refresh_token), 'the latest one lives on');
});

t.test('refresh token rotation without a grace period: the old token stops at once', async (t) => {
  const strict = await startGateway({ configure: (config) => void (config.policy = { refreshTokenRotation: { enabled: true, graceSeconds: 0 } }) });
  t.teardown(() => strict.close());
  const { tokens } = await fullFlow(strict);
  const rotated = ok(t, await refresh(strict, tokens.refresh_token));
  oauthError(t, await refresh(strict, tokens.refresh_token), 'invalid_grant');
  ok(t, await refresh(strict, rotated.refresh_token), 'the new one works');
});

t.test('client_credentials', async (t) => {
  for (const client of ['client-one', 'client-two'] as const) {
    t.test(client, async (t) => {
      const body = ok(t, await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' }, client));
      t.equal(body.token_type, 'Bearer');
      t.equal(body.scope, 'accounts');
      t.notOk('id_token' in body, 'no ID token');
      t.notOk('refresh_token' in body, 'no refresh token');
      const at = decodeJwt(body.access_token);
      t.equal((at.cnf as Record<string, string>)['x5t#S256'], thumbprint[client], 'bound to the certificate');
      t.equal(at.client_id, client);
      t.equal(at.sub, client);
    });
  }
  t.test('openid is not available', async (t) => {
    oauthError(t, await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'openid accounts' }), 'invalid_scope');
  });
  t.test('a scope the client does not have', async (t) => {
    oauthError(t, await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts payments' }), 'invalid_scope');
  });
  t.test('without scope: the client scopes except openid', async (t) => {
    const body = ok(t, await clientPost(h, '/token', { grant_type: 'client_credentials' }));
    t.notOk(body.scope.split(' ').includes('openid'));
  });
});

t.test('ID tokens', async (t) => {
  t.test('only when openid is in scope', async (t) => {
    const { pushed, code: value } = await code('client-one', { scope: 'accounts' });
    const body = ok(t, await redeem(h, value, pushed));
    t.notOk('id_token' in body, 'no ID token');
    t.equal(body.scope, 'accounts');
  });

  t.test('claims, signature and header', async (t) => {
    const before = Math.floor(Date.now() / 1000);
    const { pushed, code: value } = await code();
    const body = ok(t, await redeem(h, value, pushed));
    const header = decodeProtectedHeader(body.id_token);
    t.ok(header.kid, 'kid header');
    t.ok(['PS256', 'ES256', 'EdDSA'].includes(header.alg!), `alg ${header.alg}`);
    const { payload } = await jwtVerify(body.id_token, jwks, { issuer: h.issuer, audience: 'client-one' });
    t.equal(payload.sub, 'alice-7f3c');
    t.equal(payload.nonce, pushed.nonce);
    t.type(payload.exp, 'number');
    t.type(payload.iat, 'number');
    t.type(payload.auth_time, 'number');
    t.ok((payload.auth_time as number) >= before - 1, 'auth_time is the login');
    t.notOk('acr' in payload, 'no acr when not asked for');
    // amr: how the user signed in (the built-in password login: pwd), always true to what happened.
    t.same(payload.amr, ['pwd'], 'amr says a password was used');
    const standard = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'amr']);
    t.same(Object.keys(payload).filter((k) => !standard.has(k)), [], 'no claims that were not asked for');
  });

  t.test('no nonce pushed, no nonce', async (t) => {
    const { pushed, code: value } = await code('client-one', { nonce: undefined });
    t.notOk('nonce' in decodeJwt(ok(t, await redeem(h, value, pushed)).id_token));
  });

  t.test('acr requested as an essential claim', async (t) => {
    const claims = JSON.stringify({ id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:3' } } });
    const { pushed, code: value } = await code('client-one', { claims });
    const id = decodeJwt(ok(t, await redeem(h, value, pushed)).id_token);
    t.equal(id.acr, 'urn:cds.au:cdr:3');
    t.notOk('name' in id || 'email' in id);
  });

  t.test('user claims only when requested', async (t) => {
    const claims = JSON.stringify({ id_token: { email: null } });
    const { pushed, code: value } = await code('client-one', { claims, scope: 'openid profile email accounts' });
    const id = decodeJwt(ok(t, await redeem(h, value, pushed)).id_token);
    t.equal(id.email, 'alice@example.com', 'the requested claim');
    t.notOk('name' in id, 'profile scope does not put name in the ID token');
    t.notOk('email_verified' in id, 'nor email_verified');
  });
});

t.test('JWT access tokens (RFC 9068), sender-constrained', async (t) => {
  for (const client of ['client-one', 'client-two'] as const) {
    t.test(client, async (t) => {
      const { tokens } = await fullFlow(h, client);
      const header = decodeProtectedHeader(tokens.access_token);
      t.equal(header.typ, 'at+jwt');
      t.ok(header.kid);
      const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: h.issuer, typ: 'at+jwt' });
      for (const claim of ['iss', 'sub', 'aud', 'client_id', 'exp', 'iat', 'jti', 'scope', 'cnf']) t.ok(claim in payload, claim);
      t.equal(payload.client_id, client);
      t.equal(payload.sub, 'alice-7f3c');
      t.equal(payload.scope, 'openid accounts');
      t.equal((payload.cnf as Record<string, string>)['x5t#S256'], thumbprint[client], 'cnf.x5t#S256 is the client certificate');
      t.ok(payload.exp! - payload.iat! <= 600, 'lives at most 10 minutes');
      t.ok(tokens.expires_in > 0 && tokens.expires_in <= 600, 'expires_in at most 600');
      t.equal(tokens.expires_in, payload.exp! - payload.iat!);
    });
  }
  t.test('jti is unique', async (t) => {
    const a = decodeJwt((await fullFlow(h)).tokens.access_token).jti;
    const b = decodeJwt((await fullFlow(h)).tokens.access_token).jti;
    t.not(a, b);
  });
});
