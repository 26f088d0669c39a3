/**
 * Two gateway processes sharing one real Redis, as replicas behind a load balancer: one issuer, one
 * set of signing keys, one key prefix, each on its own ports. Every cross-replica path of a flow.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { decodeJwt } from 'jose';
import { Redis } from 'ioredis';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';
import { parForm, testPki } from './helpers/harness.js';
import { authorizationUrl, authorize, authorizeAt, browserRequest, clientPost, CookieJar, formOf, pkce, push, redeem, refresh, userinfo, type PushedAuthorization } from './helpers/flow.js';
import { privateKeyJwt } from './helpers/openid-client.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { mapConcurrent, opsGet, pollUntil, replicaConfigs, startReplicas, storeOperations, type Replica, type ReplicaHarness } from './helpers/replicas.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  let redis: RedisServer;
  let replicas: Replica[];
  let A: ReplicaHarness;
  let B: ReplicaHarness;
  const keyPrefix = `fapi-gateway-replicas:${randomUUID()}:`;

  t.before(async () => {
    const { pki } = await testPki();
    redis = await startRedisServer();
    const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url, keyPrefix });
    replicas = await startReplicas(pki, configs);
    [A, B] = replicas.map((r) => r.h);
  });

  t.teardown(async () => {
    await Promise.all((replicas ?? []).map(async (r) => {
      await r.h.close();
      await r.process.stop('SIGKILL');
    }));
    await redis?.stop();
  });

  t.test('both replicas are ready on the shared Redis', async (t) => {
    // A replica listens before its store connection is up: readiness may take a moment on a busy machine.
    for (const h of [A, B]) {
      const ready = await pollUntil(async () => ((await opsGet(h, '/readyz')).status === 200 ? true : undefined), 10_000);
      t.equal(ready.value, true, `replica ${h.name} is ready`);
      t.same(await opsGet(h, '/readyz'), { status: 200, json: { status: 'ready' } }, `replica ${h.name} says so`);
    }
  });

  t.test('discovery and JWKS are identical on both replicas', async (t) => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks']) {
      const [a, b] = await Promise.all([A, B].map((h) => h.get(`${h.issuer}${path}`)));
      t.equal(a.status, 200, `${path} on A`);
      t.equal(b.status, 200, `${path} on B`);
      t.same(b.json, a.json, `${path} is the same document on both`);
      if (path !== '/jwks') t.equal(b.json.issuer, A.sharedIssuer, `${path}: B names the shared issuer`);
      else t.ok(a.json.keys.length > 0, 'the JWKS has keys');
    }
  });

  t.test('PAR on A, authorization on B, token on A, userinfo on B, refresh on B', async (t) => {
    const pushed = await push(A);
    const redirect = await authorize(B, pushed);
    t.equal(redirect.searchParams.get('iss'), A.sharedIssuer, 'B answers with the shared issuer');
    t.equal(redirect.searchParams.get('state'), pushed.state);
    const code = redirect.searchParams.get('code')!;
    t.ok(code, 'B issued a code for the request pushed at A');

    const tokens = await redeem(A, code, pushed);
    t.equal(tokens.status, 200, 'A redeems the code B issued');
    const claims = decodeJwt(tokens.json.access_token);
    t.equal(claims.iss, A.sharedIssuer);
    t.equal(claims.aud, A.mtlsBase, 'the access token is for the shared mTLS URL');

    const info = await userinfo(B, tokens.json.access_token);
    t.equal(info.status, 200, 'B accepts the access token A issued');
    t.equal(info.json.sub, 'alice-7f3c');

    const refreshed = await refresh(B, tokens.json.refresh_token);
    t.equal(refreshed.status, 200, 'B refreshes with the refresh token A issued');
    t.equal((await userinfo(A, refreshed.json.access_token)).status, 200, 'A accepts the access token B issued');
    t.equal((await userinfo(B, refreshed.json.access_token)).status, 200, 'and so does B');
  });

  t.test('a flow alternating replicas on every request', async (t) => {
    const jar = new CookieJar();
    const pushed = await push(A);
    let page = await browserRequest(B, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(pushed.requestUri)}`);
    t.equal(page.status, 200, 'GET /authorize on B');
    t.match(page.text, 'name="password"', 'the login page');
    let form = formOf(page.text);
    const login = await browserRequest(A, jar, form.action, { csrf: form.csrf, username: 'alice', password: 'wonderland', action: 'login' });
    t.equal(login.status, 303, 'login on A');
    page = await browserRequest(B, jar, login.headers.location as string);
    t.equal(page.status, 200, 'consent page on B');
    form = formOf(page.text);
    const done = await browserRequest(A, jar, form.action, { csrf: form.csrf, decision: 'approve' });
    t.equal(done.status, 303, 'consent on A');
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const tokens = await redeem(B, code, pushed);
    t.equal(tokens.status, 200, 'token on B');
    t.equal((await userinfo(A, tokens.json.access_token)).status, 200, 'userinfo on A');
    const again = await redeem(A, code, pushed);
    t.equal(again.status, 400, 'the code is spent for A as well');
    t.equal(again.json.error, 'invalid_grant');

    // The login session made on A carries over to B: the next authorization there skips the login.
    const next = await push(B);
    const second = await browserRequest(B, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(next.requestUri)}`);
    t.equal(second.status, 200);
    t.notMatch(second.text, 'name="password"', 'B knows the session A started');
  });

  t.test('openid-client, its every request sent to the other replica than the one before', async (t) => {
    const [a, b] = replicas.map((r) => r.config.listeners);
    const toB = new Map([
      [String(a.public.port), String(b.public.port)],
      [String(a.mtls.port), String(b.mtls.port)],
    ]);
    const agent = A.agent('client-one');
    const seen: string[] = [];
    let calls = 0;
    // Discovery names replica A's listeners (the deployment's URLs); every other call goes to B's instead.
    const alternating: client.CustomFetch = (url, options) => {
      const target = new URL(url);
      const onB = calls++ % 2 === 1;
      if (onB) target.port = toB.get(target.port) ?? target.port;
      seen.push(`${onB ? 'B' : 'A'} ${target.pathname}`);
      return undiciFetch(target, { ...options, dispatcher: agent } as never) as unknown as Promise<Response>;
    };
    const auth = await privateKeyJwt(A.pki, 'client-one');
    const config = await client.discovery(new URL(A.sharedIssuer), 'client-one', { use_mtls_endpoint_aliases: true }, auth, { [client.customFetch]: alternating });

    const verifier = client.randomPKCECodeVerifier();
    const [state, nonce] = [client.randomState(), client.randomNonce()];
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: 'https://client.localhost/callback',
      scope: 'openid accounts',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    // The browser goes to whichever replica openid-client did not push to.
    const browserOn = seen.at(-1)!.startsWith('A') ? B : A;
    const callback = await authorizeAt(browserOn, authorizationUrl('client-one', url.searchParams.get('request_uri')!));
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    t.equal(tokens.claims()?.nonce, nonce, 'an ID token the library validated');
    t.equal((await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).sub, tokens.claims()!.sub, 'userinfo');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    t.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, true, 'the refreshed access token is active');
    await client.tokenRevocation(config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    t.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false, 'revoked at one replica, inactive at the other');
    t.ok(seen.some((s) => s.startsWith('A')) && seen.some((s) => s.startsWith('B')), `both replicas served: ${seen.join(', ')}`);
  });

  t.test('a token revoked at A is refused at B within one second', async (t) => {
    const first = await authorizeAndRedeem(A, B);
    t.equal((await userinfo(B, first.access_token)).status, 200, 'B accepts the token before revocation');
    const revoked = await clientPost(A, '/revoke', { token: first.access_token, token_type_hint: 'access_token' });
    t.equal(revoked.status, 200, 'revoked at A');
    const refused = await pollUntil(async () => {
      const res = await userinfo(B, first.access_token);
      return res.status === 401 ? res : undefined;
    }, 1_000);
    t.ok(refused.value, 'B refuses the revoked access token within 1 s');
    t.equal(refused.value?.json?.error, 'invalid_token');
    t.match(String(refused.value?.headers['www-authenticate']), /invalid_token/);

    // Revoking the refresh token at B ends the grant: A refuses the grant's access token and refresh token.
    const second = await authorizeAndRedeem(B, A);
    t.equal((await userinfo(A, second.access_token)).status, 200);
    t.equal((await clientPost(B, '/revoke', { token: second.refresh_token, token_type_hint: 'refresh_token' })).status, 200, 'refresh token revoked at B');
    const ended = await pollUntil(async () => ((await userinfo(A, second.access_token)).status === 401 ? true : undefined), 1_000);
    t.ok(ended.value, 'A refuses the access token of the ended grant within 1 s');
    const refreshAtA = await refresh(A, second.refresh_token);
    t.equal(refreshAtA.status, 400, 'A refuses the revoked refresh token');
    t.equal(refreshAtA.json.error, 'invalid_grant');
  });

  t.test('a client assertion used at one replica is refused at the other', async (t) => {
    const assertion = await A.assertion();
    const par = (h: ReplicaHarness) => h.post('/par', { ...parForm({ code_challenge: pkce().challenge }), client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
    t.equal((await par(A)).status, 201, 'first use at A');
    const replay = await par(B);
    t.equal(replay.status, 401, 'replayed at B');
    t.equal(replay.json.error, 'invalid_client');

    // The same assertion at both replicas at once: exactly one accepts it.
    const raced = await A.assertion();
    const both = await Promise.all([A, B].map((h) => h.post('/par', { ...parForm({ code_challenge: pkce().challenge }), client_assertion_type: ASSERTION_TYPE, client_assertion: raced })));
    t.same(both.map((r) => r.status).sort(), [201, 401], 'one 201 and one 401 for one assertion sent to both');
  });

  t.test("a consent decided from the replica's copy of an interaction that changed elsewhere runs again from the store", async (t) => {
    const jar = new CookieJar();
    const pushed = await push(A);
    const uid = pushed.requestUri.split(':').at(-1)!;
    const loginPage = await browserRequest(A, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(pushed.requestUri)}`);
    let form = formOf(loginPage.text);
    const login = await browserRequest(A, jar, form.action, { csrf: form.csrf, username: 'alice', password: 'wonderland', action: 'login' });
    t.equal(login.status, 303, 'signed in at A');
    form = formOf((await browserRequest(A, jar, login.headers.location as string)).text);
    // Another replica moves the interaction on (here: its login time) after A last wrote or read it.
    const raw = new Redis(redis.url);
    t.teardown(() => raw.quit());
    const key = `${keyPrefix}interaction:${uid}`;
    const stored = JSON.parse((await raw.get(key))!);
    const movedAuthTime = stored.authTime - 100;
    await raw.set(key, JSON.stringify({ ...stored, authTime: movedAuthTime }), 'KEEPTTL');
    const readsBefore = await storeOperations(A, 'get_many');
    const done = await browserRequest(A, jar, form.action, { csrf: form.csrf, decision: 'approve' });
    t.equal(done.status, 303, 'the consent completes');
    t.equal((await storeOperations(A, 'get_many')) - readsBefore, 1, 'A read the interaction once: after its copy was found outdated');
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const tokens = await redeem(A, code, pushed);
    t.equal(tokens.status, 200);
    t.equal(decodeJwt(tokens.json.id_token).auth_time, movedAuthTime, 'from what the store holds, not from the copy');
  });

  t.test('a consent at the replica that showed the page, and the token request at the one that issued the code, read nothing back', async (t) => {
    const jar = new CookieJar();
    await authorize(B, await push(A), { jar }); // signed in
    const pushed = await push(A);
    const page = await browserRequest(B, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(pushed.requestUri)}`);
    const form = formOf(page.text);
    const [readsBefore, getsBefore] = [await storeOperations(B, 'get_many'), await storeOperations(B, 'get')];
    const done = await browserRequest(B, jar, form.action, { csrf: form.csrf, decision: 'approve' });
    t.equal(done.status, 303);
    const tokens = await redeem(B, new URL(done.headers.location as string).searchParams.get('code')!, pushed);
    t.equal(tokens.status, 200);
    t.equal((await storeOperations(B, 'get_many')) - readsBefore, 0, 'no read at the consent');
    t.equal((await storeOperations(B, 'get')) - getsBefore, 0, 'nor at the token request');
    t.equal((await userinfo(A, tokens.json.access_token)).status, 200, 'the tokens work at the other replica');
  });

  t.test('a request_uri completed at one replica is refused at the replica holding its copy', async (t) => {
    const jar = new CookieJar();
    const pushed = await push(A); // A holds the request's copy
    const code = (await authorize(B, pushed, { jar })).searchParams.get('code');
    t.ok(code, 'completed at B');
    // A browser without a session: A needs only its copy of the request.
    const again = await browserRequest(A, new CookieJar(), `/authorize?client_id=client-one&request_uri=${encodeURIComponent(pushed.requestUri)}`);
    t.equal(again.status, 400, 'A refuses it: its copy is found gone from the store');
    t.match(again.text, 'invalid_request_uri');
  });

  t.test("a token request replaying an assertion, at the replica that has the code's copy, is refused and leaves the code redeemable", async (t) => {
    const pushed = await push(B);
    const code = (await authorize(A, pushed)).searchParams.get('code')!;
    const used = await A.assertion();
    const first = await B.post('/par', { ...parForm({ code_challenge: pkce().challenge }), client_assertion_type: ASSERTION_TYPE, client_assertion: used });
    t.equal(first.status, 201, 'the assertion is used at B');
    const replayed = await A.post('/token', { ...(await tokenForm(A, code, pushed)), client_assertion: used });
    t.equal(replayed.status, 401, 'A refuses the replay');
    t.equal(replayed.json.error, 'invalid_client');
    const tokens = await A.post('/token', await tokenForm(A, code, pushed));
    t.equal(tokens.status, 200, 'the code was not spent by the replay');
    const again = await A.post('/token', await tokenForm(A, code, pushed));
    t.equal(again.status, 400, 'and is spent once redeemed');
    t.equal(again.json.error, 'invalid_grant');
    t.equal((await userinfo(B, tokens.json.access_token)).status, 401, 'the reuse ended the grant');
  });

  t.test('200 racing redemptions: 100 codes, each redeemed at A and at B at once, give exactly one success each', async (t) => {
    const jar = new CookieJar();
    // One browser session (this first authorization logs in); from then on only the consent page.
    const warm = await push(A);
    await authorize(B, warm, { jar });

    const CODES = 100;
    const started = performance.now();
    const issued = await mapConcurrent(CODES, 8, async (i) => {
      const [pushAt, authorizeAt] = i % 2 === 0 ? [A, B] : [B, A];
      const pushed = await push(pushAt);
      const code = (await authorize(authorizeAt, pushed, { jar })).searchParams.get('code');
      if (!code) throw new Error('no code');
      return { pushed, code };
    });
    t.comment(`${CODES} codes issued in ${Math.round(performance.now() - started)} ms`);
    t.equal(new Set(issued.map((c) => c.code)).size, CODES, `${CODES} distinct codes`);

    // Every request carries its own pre-signed assertion, so nothing is signed while they race.
    const requests: { i: number; h: ReplicaHarness; form: Record<string, string> }[] = [];
    for (const [i, { code, pushed }] of issued.entries()) {
      // Alternate which replica is asked first, so neither is favoured by the order of sending.
      for (const h of i % 2 === 0 ? [A, B] : [B, A]) requests.push({ i, h, form: await tokenForm(h, code, pushed) });
    }
    // Each code's two redemptions race; ten codes at a time, so that a busy CI machine measures the
    // race and not the gateways' load shedding (200 requests at once can meet a store timeout's 503).
    const answers: Awaited<ReturnType<ReplicaHarness['post']>>[] = [];
    for (let k = 0; k < requests.length; k += 20)
      answers.push(...(await Promise.all(requests.slice(k, k + 20).map(({ h, form }) => h.post('/token', form)))));

    const perCode = Array.from({ length: CODES }, () => ({ ok: 0, invalidGrant: 0, other: [] as string[], winners: [] as string[] }));
    answers.forEach((res, k) => {
      const { i, h } = requests[k];
      if (res.status === 200 && typeof res.json?.access_token === 'string') {
        perCode[i].ok++;
        perCode[i].winners.push(h.name);
      } else if (res.status === 400 && res.json?.error === 'invalid_grant') perCode[i].invalidGrant++;
      else perCode[i].other.push(`${h.name}: ${res.status} ${res.text.slice(0, 120)}`);
    });
    const exactlyOnce = perCode.filter((c) => c.ok === 1 && c.invalidGrant === 1).length;
    t.equal(exactlyOnce, CODES, 'every code: exactly one 200 and one invalid_grant');
    const bad = perCode.map((c, i) => ({ i, ...c })).filter((c) => !(c.ok === 1 && c.invalidGrant === 1));
    if (bad.length) t.comment(`codes not redeemed exactly once: ${JSON.stringify(bad.slice(0, 5))}`);
    t.equal(answers.filter((r) => r.status === 200).length, CODES, `${CODES} token responses in all`);
    const winsAtA = perCode.filter((c) => c.winners[0] === 'A').length;
    t.comment(`winning redemptions: ${winsAtA} at A, ${CODES - winsAtA} at B`);
  });
}

/** The token request form for `code`, with a fresh assertion for the shared issuer. */
async function tokenForm(h: ReplicaHarness, code: string, pushed: PushedAuthorization): Promise<Record<string, string>> {
  return {
    grant_type: 'authorization_code',
    code,
    redirect_uri: pushed.form.redirect_uri,
    code_verifier: pushed.verifier,
    client_id: 'client-one',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await h.assertion(),
  };
}

/** PAR at `pushAt`, authorization (login and consent) at the other, token at `pushAt`. */
async function authorizeAndRedeem(pushAt: ReplicaHarness, authorizeAt: ReplicaHarness): Promise<{ access_token: string; refresh_token: string }> {
  const pushed = await push(pushAt);
  const code = (await authorize(authorizeAt, pushed)).searchParams.get('code')!;
  const res = await redeem(pushAt, code, pushed);
  if (res.status !== 200) throw new Error(`token failed: ${res.status} ${res.text}`);
  return res.json;
}

