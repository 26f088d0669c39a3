/**
 * Two Brazil gateway processes sharing one real Redis: a consent created and authorised through
 * one replica, revoked by the TPP through it, and every token of it refused on the other at once.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { testPki } from './helpers/harness.js';
import { userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { replicaConfigs, startReplicas, type Replica } from './helpers/replicas.js';
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
}
