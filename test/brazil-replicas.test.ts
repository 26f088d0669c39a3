/**
 * Two Brazil gateway processes sharing one real Redis: a consent created and authorised through
 * one replica, revoked by the TPP through it, and every token of it refused on the other at once;
 * an approval decided from a replica's copy of the consent, and refused when the consent was
 * authorised elsewhere meanwhile.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { testPki } from './helpers/harness.js';
import { browserRequest, CookieJar, formOf, userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { replicaConfigs, startReplicas, storeOperations, type Replica } from './helpers/replicas.js';
import { auth, authorizeConsent, brazilConfig, clientToken, consentsCall, createConsent, ps256Keys, pushConsent, redeemCode } from './helpers/brazil.js';

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  let redis: RedisServer;
  let replicas: Replica[] = [];

  t.before(async () => {
    const { pki } = await testPki();
    const serverKeys = await ps256Keys();
    redis = await startRedisServer();
    const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url, keyPrefix: `fapi-gateway-brazil:${randomUUID()}:` });
    for (const config of configs) brazilConfig(config, serverKeys);
    replicas = await startReplicas(pki, configs);
  });
  t.teardown(async () => {
    await Promise.all(replicas.map(async (r) => {
      await r.h.close();
      await r.process.stop('SIGKILL');
    }));
    await redis?.stop();
  });

  t.test('a TPP DELETE on replica A ends the tokens on replica B at once', async (t) => {
    const [A, B] = replicas.map((r) => r.h);
    const consentId = await createConsent(A);
    const par = await pushConsent(A, consentId);
    t.equal(par.status, 201, 'PAR with the consent on A');
    const { redirect } = await authorizeConsent(A, par.pushed!);
    const tokens = (await redeemCode(B, redirect!.searchParams.get('code')!, par.pushed!)).json;
    t.ok(tokens.access_token, 'the code redeems on B');
    t.equal((await userinfo(B, tokens.access_token)).status, 200, 'the token works on B');
    const read = await consentsCall(B, 'GET', '/' + encodeURIComponent(consentId), { token: await clientToken(B) });
    t.equal(read.json.data.status, 'AUTHORISED', 'B sees the consent AUTHORISED');

    const deleted = await consentsCall(A, 'DELETE', '/' + encodeURIComponent(consentId), { token: await clientToken(A) });
    t.equal(deleted.status, 204, 'revoked on A');
    t.equal((await userinfo(B, tokens.access_token)).status, 401, 'the access token is refused on B at once');
    t.equal((await userinfo(A, tokens.access_token)).status, 401, 'and on A');
    const refreshed = await B.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await auth(B)) });
    t.equal(refreshed.json.error, 'invalid_grant', 'the refresh token is refused on B');
    const after = await consentsCall(B, 'GET', '/' + encodeURIComponent(consentId), { token: await clientToken(B) });
    t.same(after.json.data.rejection, { rejectedBy: 'USER', reason: { code: 'CUSTOMER_MANUALLY_REVOKED' } });
  });

  t.test('an approval reads nothing when its replica holds the consent, and is refused when the consent was authorised elsewhere meanwhile', async (t) => {
    const [A, B] = replicas.map((r) => r.h);
    const consentId = await createConsent(A);
    const [first, second] = [await pushConsent(A, consentId), await pushConsent(A, consentId)];
    t.equal(second.status, 201, 'two pushed requests for the consent, both at A');
    // The second's consent page, at A.
    const jar = new CookieJar();
    const loginPage = await browserRequest(A, jar, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: second.pushed!.requestUri })}`);
    let form = formOf(loginPage.text);
    const signedIn = await browserRequest(A, jar, form.action, { csrf: form.csrf, username: 'alice', password: 'wonderland', action: 'login' });
    const page = await browserRequest(A, jar, signedIn.headers.location as string);
    form = formOf(page.text);
    const accounts = Object.fromEntries([...page.text.matchAll(/name="(account-\d+)" value="([^"]+)"/g)].map(([, name, id]) => [name, id]));
    // Meanwhile the first is approved at B.
    const approvedAtB = await authorizeConsent(B, first.pushed!);
    t.ok(approvedAtB.redirect?.searchParams.get('code'), 'the consent is authorised at B');
    const readsBefore = await storeOperations(A, 'get_many');
    const done = await browserRequest(A, jar, form.action, { csrf: form.csrf, decision: 'approve', ...accounts });
    const redirect = new URL(done.headers.location as string);
    t.equal(redirect.searchParams.get('error'), 'access_denied', 'A refuses the approval its copy allowed');
    t.equal(redirect.searchParams.get('code'), null, 'no code');
    t.equal((await storeOperations(A, 'get_many')) - readsBefore, 1, 'A read the consent only after its commit was refused');
    const read = await consentsCall(B, 'GET', '/' + encodeURIComponent(consentId), { token: await clientToken(B) });
    t.equal(read.json.data.status, 'AUTHORISED', 'the consent stays authorised, for the grant made at B');

    // An approval at the replica that created the consent and showed the page reads nothing back.
    const fresh = await pushConsent(A, await createConsent(A));
    const freshPage = await browserRequest(A, jar, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: fresh.pushed!.requestUri })}`);
    const freshForm = formOf(freshPage.text);
    const before = await storeOperations(A, 'get_many');
    const approved = await browserRequest(A, jar, freshForm.action, { csrf: freshForm.csrf, decision: 'approve', ...accounts });
    t.ok(new URL(approved.headers.location as string).searchParams.get('code'), 'approved');
    t.equal((await storeOperations(A, 'get_many')) - before, 0, 'no read at the approval');
  });

  t.test('PAR reads nothing when its replica holds the consent, and is refused when the consent ended elsewhere meanwhile', async (t) => {
    const [A, B] = replicas.map((r) => r.h);
    const consentId = await createConsent(A);
    let before = await storeOperations(A, 'get_many');
    const pushed = await pushConsent(A, consentId);
    t.equal(pushed.status, 201, 'pushed at A');
    t.equal((await storeOperations(A, 'get_many')) - before, 0, 'from its copy of the consent: no read');

    const ended = await createConsent(A);
    t.equal((await consentsCall(B, 'DELETE', '/' + encodeURIComponent(ended), { token: await clientToken(B) })).status, 204, 'the TPP deletes the consent at B');
    before = await storeOperations(A, 'get_many');
    const refused = await pushConsent(A, ended);
    t.equal(refused.status, 400, 'A refuses the pushed request its copy allowed');
    t.equal(refused.json.error, 'invalid_request');
    t.equal((await storeOperations(A, 'get_many')) - before, 0, 'the guard, not a read, decided');
    const again = await pushConsent(B, ended);
    t.equal(again.json.error, 'invalid_request', 'and at B, which read it for the deletion');
  });
}
