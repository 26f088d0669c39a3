import t from 'tap';
import { parForm, startGateway, type Harness } from './helpers/harness.js';
import { authorizationUrl, authorize, browserRequest, CookieJar, formOf, push, redeem } from './helpers/flow.js';
import { TrackingStore } from './helpers/tracking-store.js';

// Records written in the same store round trip as the one-time step that decides (PAR's assertion
// jti, the consumption of a pushed request, the redemption of a code) are deleted when that step
// says no: a lost race leaves nothing behind.

const store = new TrackingStore();
let h: Harness;
t.before(async () => {
  h = await startGateway({ gatewayOptions: { store } });
});
t.teardown(() => h.close());

t.test('two tabs approving the same request at once: one code, one grant, nothing of the other', async (t) => {
  const jar = new CookieJar();
  await authorize(h, await push(h), { jar }); // logs in: the next authorizations go straight to consent
  const [grantsBefore, codesBefore] = [(await store.live('grant')).length, (await store.live('code')).length];

  const pushed = await push(h);
  const tabs = await Promise.all([1, 2].map(() => browserRequest(h, jar, authorizationUrl('client-one', pushed.requestUri))));
  t.ok(tabs.every((page) => page.status === 200 && page.text.includes('name="decision"')), 'both tabs show the consent page');
  const answers = await Promise.all(tabs.map((page) => browserRequest(h, jar, formOf(page.text).action, { csrf: formOf(page.text).csrf, decision: 'approve' })));

  const redirects = answers.filter((res) => res.status === 303);
  t.equal(redirects.length, 1, 'one tab is sent back to the client');
  t.ok(new URL(redirects[0].headers.location as string).searchParams.get('code'), 'with a code');
  const other = answers.find((res) => res.status !== 303)!;
  t.equal(other.status, 400, 'the other gets an error page');
  t.match(other.text, '<code>invalid_request_uri</code>');
  t.equal((await store.live('code')).length, codesBefore + 1, 'one new code is stored');
  t.equal((await store.live('grant')).length, grantsBefore + 1, 'one new grant is stored');
  t.equal((await store.live('par')).filter((id) => pushed.requestUri.endsWith(id)).length, 0, 'the request is consumed');
});

t.test('10 concurrent redemptions of one code: the losers leave no refresh token behind', async (t) => {
  const pushed = await push(h);
  const code = (await authorize(h, pushed)).searchParams.get('code')!;
  const before = (await store.live('refresh')).length;
  const results = await Promise.all(Array.from({ length: 10 }, () => redeem(h, code, pushed)));
  const winners = results.filter((r) => r.status === 200);
  t.equal(winners.length, 1, 'one redemption succeeds');
  t.ok(winners[0].json.refresh_token, 'with a refresh token');
  t.equal((await store.live('refresh')).length, before + 1, "only the winner's refresh token was stored");
});

t.test('PAR with a replayed assertion: invalid_client, and the request it carried is not kept', async (t) => {
  const auth = await h.assertionForm();
  const first = await h.post('/par', { ...parForm(), ...auth }, { client: 'client-one' });
  t.equal(first.status, 201);
  const before = (await store.live('par')).length;
  const replay = await h.post('/par', { ...parForm(), ...auth }, { client: 'client-one' });
  t.equal(replay.status, 401);
  t.equal(replay.json.error, 'invalid_client');
  t.equal(replay.headers['cache-control'], 'no-store');
  t.equal((await store.live('par')).length, before, 'no pushed request stored for the replay');
});

t.test('PAR with an invalid request still spends the assertion; a replay of it is refused as a replay', async (t) => {
  const auth = await h.assertionForm();
  const invalid = await h.post('/par', { ...parForm({ code_challenge_method: 'plain' }), ...auth }, { client: 'client-one' });
  t.equal(invalid.status, 400);
  t.equal(invalid.json.error, 'invalid_request');
  const again = await h.post('/par', { ...parForm(), ...auth }, { client: 'client-one' });
  t.equal(again.status, 401, 'the valid request with the spent assertion is refused');
  t.equal(again.json.error, 'invalid_client');
  const invalidReplay = await h.post('/par', { ...parForm({ code_challenge_method: 'plain' }), ...auth }, { client: 'client-one' });
  t.equal(invalidReplay.json.error, 'invalid_client', 'a replay is named as such even with an invalid request');
});
