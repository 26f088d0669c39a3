import t, { type Test } from 'tap';
import { decodeJwt } from 'jose';
import { readFile } from 'node:fs/promises';
import { startGateway, type Harness, type Response } from './helpers/harness.js';
import { clientPost, fullFlow, pemThumbprint, refresh, userinfo } from './helpers/flow.js';

// Token introspection (RFC 7662) and revocation (RFC 7009): client-authenticated, and a client
// learns about (and can revoke) only its own tokens.

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h.close());

const describe = (res: Response) => `${res.status} ${res.text.slice(0, 300)}`;

async function introspect(token: string, client: 'client-one' | 'client-two' = 'client-one', hint?: string): Promise<Record<string, any>> {
  const res = await clientPost(h, '/introspect', { token, ...(hint ? { token_type_hint: hint } : {}) }, client);
  if (res.status !== 200) throw new Error(`introspection failed: ${describe(res)}`);
  return res.json;
}

function noStore(t: Test, res: Response): void {
  t.match(String(res.headers['cache-control']), /no-store/, 'Cache-Control: no-store');
}

t.test('introspection', async (t) => {
  for (const client of ['client-one', 'client-two'] as const) {
    t.test(`${client}: its own access token`, async (t) => {
      const { tokens } = await fullFlow(h, client);
      const res = await clientPost(h, '/introspect', { token: tokens.access_token }, client);
      t.equal(res.status, 200, describe(res));
      noStore(t, res);
      const body = res.json;
      t.equal(body.active, true);
      t.equal(body.scope, 'openid accounts');
      t.equal(body.client_id, client);
      t.equal(body.sub, 'alice-7f3c');
      t.equal(body.exp, decodeJwt(tokens.access_token).exp);
      t.equal(body.cnf?.['x5t#S256'], pemThumbprint(await readFile(h.pki.clients[client].cert)), 'cnf of the bound certificate');
      t.equal(body.iss, h.issuer);
    });
  }

  t.test('its own refresh token', async (t) => {
    const { tokens } = await fullFlow(h);
    for (const hint of [undefined, 'refresh_token', 'access_token']) {
      const body = await introspect(tokens.refresh_token, 'client-one', hint);
      t.equal(body.active, true, `hint ${hint}`);
      t.equal(body.scope, 'openid accounts');
      t.equal(body.client_id, 'client-one');
      t.type(body.exp, 'number', 'exp');
      t.ok(body.exp > Date.now() / 1000);
      // A refresh token is bound to the client, not to a certificate (RFC 8705 §5): each refresh
      // binds its access token to the certificate it comes over. So no cnf to show.
      t.notOk('cnf' in body, 'no cnf for a refresh token');
    }
  });

  t.test("another client's tokens look unknown", async (t) => {
    const { tokens } = await fullFlow(h, 'client-one');
    t.same(await introspect(tokens.access_token, 'client-two'), { active: false });
    t.same(await introspect(tokens.refresh_token, 'client-two'), { active: false });
    t.same(await introspect(tokens.refresh_token, 'client-two', 'refresh_token'), { active: false });
  });

  t.test('unknown tokens', async (t) => {
    t.same(await introspect('A'.repeat(43)), { active: false });
    t.same(await introspect('a.b.c'), { active: false });
    t.same(await introspect('not a token at all'), { active: false });
  });

  t.test('an ID token is not an access token', async (t) => {
    const { tokens } = await fullFlow(h);
    t.same(await introspect(tokens.id_token), { active: false });
  });

  t.test('missing token: 400 invalid_request', async (t) => {
    const res = await clientPost(h, '/introspect', {});
    t.equal(res.status, 400);
    t.equal(res.json.error, 'invalid_request');
  });

  t.test('unauthenticated: 401 invalid_client', async (t) => {
    const { tokens } = await fullFlow(h);
    for (const [name, res] of [
      ['no client authentication', await h.post('/introspect', { token: tokens.access_token })],
      ['tls_client_auth without a certificate', await h.post('/introspect', { token: tokens.access_token, client_id: 'client-two' }, { client: null })],
      ['unknown client', await h.post('/introspect', { token: tokens.access_token, client_id: 'nobody' })],
    ] as const) {
      t.equal(res.status, 401, name);
      t.equal(res.json.error, 'invalid_client', name);
      t.notOk('active' in res.json, 'nothing about the token');
    }
  });
});

t.test('revocation', async (t) => {
  t.test('a refresh token: its grant ends', async (t) => {
    const { tokens } = await fullFlow(h);
    const refreshed = await refresh(h, tokens.refresh_token);
    t.equal(refreshed.status, 200);
    const res = await clientPost(h, '/revoke', { token: tokens.refresh_token, token_type_hint: 'refresh_token' });
    t.equal(res.status, 200, describe(res));
    noStore(t, res);
    t.equal((await userinfo(h, tokens.access_token)).status, 401, 'the access token from the code is refused');
    t.equal((await userinfo(h, refreshed.json.access_token)).status, 401, 'the access token from the refresh is refused');
    const again = await refresh(h, tokens.refresh_token);
    t.equal(again.status, 400);
    t.equal(again.json.error, 'invalid_grant', 'the refresh token is refused');
    t.same(await introspect(tokens.refresh_token), { active: false });
    t.same(await introspect(tokens.access_token), { active: false });
  });

  t.test('a refresh token without a hint', async (t) => {
    const { tokens } = await fullFlow(h, 'client-two');
    t.equal((await clientPost(h, '/revoke', { token: tokens.refresh_token }, 'client-two')).status, 200);
    t.equal((await refresh(h, tokens.refresh_token, 'client-two')).status, 400);
    t.equal((await userinfo(h, tokens.access_token, 'client-two')).status, 401);
  });

  t.test('an access token', async (t) => {
    const { tokens } = await fullFlow(h);
    t.equal((await userinfo(h, tokens.access_token)).status, 200);
    const res = await clientPost(h, '/revoke', { token: tokens.access_token, token_type_hint: 'access_token' });
    t.equal(res.status, 200, describe(res));
    t.equal((await userinfo(h, tokens.access_token)).status, 401, 'refused by userinfo');
    t.same(await introspect(tokens.access_token), { active: false }, 'inactive');
  });

  t.test("revoking another client's token changes nothing", async (t) => {
    const { tokens } = await fullFlow(h, 'client-one');
    for (const token of [tokens.access_token, tokens.refresh_token]) {
      const res = await clientPost(h, '/revoke', { token }, 'client-two');
      t.equal(res.status, 200, 'answers 200 all the same');
    }
    t.equal((await userinfo(h, tokens.access_token)).status, 200, 'the access token still works');
    t.equal((await refresh(h, tokens.refresh_token)).status, 200, 'the refresh token still works');
    t.equal((await introspect(tokens.access_token)).active, true);
  });

  t.test('an unknown token: 200', async (t) => {
    t.equal((await clientPost(h, '/revoke', { token: 'A'.repeat(43) })).status, 200);
  });

  t.test('missing token: 400 invalid_request; unauthenticated: 401 invalid_client', async (t) => {
    const missing = await clientPost(h, '/revoke', {});
    t.equal(missing.status, 400);
    t.equal(missing.json.error, 'invalid_request');
    const { tokens } = await fullFlow(h);
    const anonymous = await h.post('/revoke', { token: tokens.access_token });
    t.equal(anonymous.status, 401);
    t.equal(anonymous.json.error, 'invalid_client');
    t.equal((await userinfo(h, tokens.access_token)).status, 200, 'an unauthenticated revocation does nothing');
  });
});
