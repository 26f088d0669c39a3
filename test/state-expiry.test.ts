/**
 * Nothing the gateway stores outlives the lifetime that needs it. Flows of every kind run with
 * short lifetimes (a policy tightens the profile), against the memory store and a real Redis; once
 * every lifetime has passed, nothing is left. On Redis every key has a TTL, none longer than the
 * longest lifetime configured.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { RecordKind, Store } from '../src/store/store.js';
import { parForm, startGateway, type Harness } from './helpers/harness.js';
import { authorize, clientPost, fullFlow, pkce, userinfo, type PushedAuthorization } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer } from './helpers/redis-server.js';
import { TrackingStore } from './helpers/tracking-store.js';

const KINDS: RecordKind[] = ['par', 'interaction', 'session', 'consent', 'code', 'code-redeemed', 'grant', 'grant-ended', 'refresh', 'jti', 'revoked-at'];

// Seconds. The longest of them bounds every record's TTL.
const LIFETIMES = { code: 1, accessToken: 2, idToken: 2, refreshToken: 4, session: 3, grant: 5 };
const LONGEST = Math.max(...Object.values(LIFETIMES));

function configureShortLifetimes(config: Record<string, any>): void {
  // No clock-skew tolerance: a replay record (jti) then lives exactly as long as its assertion.
  config.policy = { lifetimes: LIFETIMES, refreshTokenRotation: { enabled: true, graceSeconds: 1 }, clientAssertion: { futureToleranceSeconds: 0 } };
  // Grants' life trails are kept no longer than the grants themselves here.
  config.grantManagement = { trailRetentionDays: 0 };
}

/** A client-one assertion that lives 3 s, so its replay record (jti) does not outlive this test's lifetimes. */
async function shortAssertion(h: Harness): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000);
  return {
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await h.assertion({ exp: now + 3 }),
  };
}

async function pushShort(h: Harness): Promise<PushedAuthorization> {
  const { verifier, challenge } = pkce();
  const form = parForm({ client_id: 'client-one', code_challenge: challenge });
  const res = await h.post('/par', { ...form, ...(await shortAssertion(h)) });
  if (res.status !== 201) throw new Error(`PAR failed: ${res.status} ${res.text}`);
  return { requestUri: res.json.request_uri, verifier, state: form.state, nonce: form.nonce, form };
}

async function codeFor(h: Harness, pushed: PushedAuthorization): Promise<string> {
  const redirect = await authorize(h, pushed, { client: 'client-one' });
  return redirect.searchParams.get('code')!;
}

const redeemShort = (h: Harness, code: string, pushed: PushedAuthorization) =>
  clientPostShort(h, '/token', { grant_type: 'authorization_code', code, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier });

/** Flows that write every kind of record the baseline profile writes. */
async function runFlows(t: Test, h: Harness): Promise<void> {
  // A complete flow, a rotation, a resource call (the verified-token cache), then revocation of the access token.
  const pushed = await pushShort(h);
  const code = await codeFor(h, pushed);
  const tokens = await redeemShort(h, code, pushed);
  t.equal(tokens.status, 200, 'code redeemed');
  t.equal((await userinfo(h, tokens.json.access_token)).status, 200, 'userinfo with the access token');
  const rotated = await clientPostShort(h, '/token', { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token });
  t.equal(rotated.status, 200, 'refresh token rotated');
  t.equal((await clientPostShort(h, '/revoke', { token: rotated.json.access_token })).status, 200, 'access token revoked');

  // A code used twice: its grant ends.
  const pushed2 = await pushShort(h);
  const code2 = await codeFor(h, pushed2);
  t.equal((await redeemShort(h, code2, pushed2)).status, 200);
  t.equal((await redeemShort(h, code2, pushed2)).status, 400, 'code reuse refused (grant ended)');

  // A refresh token revoked: its grant ends. client-two authenticates by certificate (no assertion, no jti).
  const pushed3 = await pushShort(h);
  const code3 = await codeFor(h, pushed3);
  const tokens3 = await redeemShort(h, code3, pushed3);
  t.equal((await clientPostShort(h, '/revoke', { token: tokens3.json.refresh_token, token_type_hint: 'refresh_token' })).status, 200, 'refresh token revoked');

  // Client credentials: a grant as long as its access token.
  const cc = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' }, 'client-two');
  t.equal(cc.status, 200, 'client credentials');
}

async function clientPostShort(h: Harness, pathname: string, form: Record<string, string>) {
  return h.post(pathname, { client_id: 'client-one', ...form, ...(await shortAssertion(h)) });
}

/** Waits until every lifetime has passed since the last write (the Redis TTLs and the memory store's clock are exact). */
const waitForEveryLifetime = () => sleep((LONGEST + 1.5) * 1000);

t.test('memory store: nothing is left once every lifetime has passed', async (t) => {
  const store = new TrackingStore();
  const h = await startGateway({ configure: configureShortLifetimes, gatewayOptions: { store } });
  t.teardown(() => h.close());
  await runFlows(t, h);
  const before = Object.fromEntries(await Promise.all(KINDS.map(async (k) => [k, (await store.live(k)).length] as const)));
  t.ok(before.grant > 0 && before.refresh > 0 && before['grant-ended'] > 0 && before['revoked-at'] > 0 && before['code-redeemed'] > 0 && before.jti > 0, `records written: ${JSON.stringify(before)}`);
  t.ok(h.gateway.context.verifiedTokens.size > 0, 'a verified token is cached');
  await waitForEveryLifetime();
  for (const kind of KINDS) t.same(await store.live(kind), [], `no ${kind} record left`);
  t.equal(h.gateway.context.verifiedTokens.size, 0, 'the verified-token cache has let go of the expired tokens');
});

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  t.test('Redis: every key has a TTL no longer than the longest lifetime, and none is left once they have passed', async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const prefix = `fapi-gateway-expiry:${randomUUID()}:`;
    const h = await startGateway({
      configure: (config) => {
        configureShortLifetimes(config);
        config.store = { type: 'redis', url: redis.url, keyPrefix: prefix };
      },
    });
    t.teardown(() => h.close());
    const raw = new Redis(redis.url);
    t.teardown(() => raw.quit());
    const keys = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        found.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      return found;
    };
    await runFlows(t, h);
    const written = await keys();
    const kinds = new Set(written.map((k) => k.slice(prefix.length).split(':')[0]));
    t.ok(['grant', 'refresh', 'grant-ended', 'revoked-at', 'code-redeemed', 'jti', 'code'].every((k) => kinds.has(k)), `keys written: ${[...kinds].join(', ')}`);
    for (const key of written) {
      const ttl = await raw.pttl(key);
      // -2: expired between SCAN and PTTL.
      t.ok(ttl === -2 || (ttl > 0 && ttl <= LONGEST * 1000), `${key.slice(prefix.length).split(':')[0]} has a TTL within ${LONGEST} s (${ttl} ms)`);
    }
    await waitForEveryLifetime();
    t.same(await keys(), [], 'SCAN finds no key of the gateway');
    t.equal(await raw.dbsize(), 0, 'DBSIZE is 0');
  });
}

t.test("a grant's TTL follows its tokens: refresh lifetime at the code, extended by a rotation, the access token's without refresh", async (t) => {
  const writes: Array<{ id: string; ttl: number }> = [];
  class GrantTtls extends TrackingStore {
    override set(kind: RecordKind, id: string, value: unknown, ttl: number) {
      if (kind === 'grant') writes.push({ id, ttl });
      return super.set(kind, id, value, ttl);
    }
  }
  const store = new GrantTtls();
  const h = await startGateway({
    configure: (config) => void (config.policy = { lifetimes: { code: 10, accessToken: 60, refreshToken: 600, grant: 3600 }, refreshTokenRotation: { enabled: true, graceSeconds: 5 } }),
    gatewayOptions: { store },
  });
  t.teardown(() => h.close());
  const { tokens } = await fullFlow(h, 'client-two');
  t.same(writes.map((w) => w.ttl), [670], 'written with its code: the code, then the refresh token and a last access token (not 400 days)');
  const rotated = await clientPost(h, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, 'client-two');
  t.equal(rotated.status, 200);
  t.equal(writes.length, 2);
  t.equal(writes[1].id, writes[0].id);
  t.ok(writes[1].ttl >= 659 && writes[1].ttl <= 660, `a rotation keeps it as long as the new refresh token and a last access token (${writes[1].ttl} s)`);
  const cc = await clientPost(h, '/token', { grant_type: 'client_credentials', scope: 'accounts' }, 'client-two');
  t.equal(cc.status, 200);
  t.ok(writes[2].ttl <= 60 && writes[2].ttl >= 59, `client credentials: as long as its access token (${writes[2].ttl} s)`);
});
