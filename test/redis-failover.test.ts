/**
 * Redis stopped and restarted under load: two gateway processes on one Redis, taking turns (every
 * request goes to the other replica than the one before), a few workers running complete flows and
 * userinfo calls, Redis killed for about two seconds and brought back (empty: the test server keeps
 * nothing on disk). The gateway must fail closed (503 temporarily_unavailable, as JSON from the API
 * and as a page from the browser pages; never another 5xx or a dropped connection), say not ready,
 * recover by itself, and never redeem a code twice.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { testPki, parForm } from './helpers/harness.js';
import { browserRequest, CookieJar, formOf, fullFlow, pkce, userinfo } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer } from './helpers/redis-server.js';
import { opsGet, pollUntil, replicaConfigs, startReplicas } from './helpers/replicas.js';

const WORKERS = 4;
const LOAD_MAX_MS = 20_000; // the load loop never runs longer than this
// Redis is stopped once the load has issued WARM_TOKENS tokens (at least WARM_MIN_MS, at most WARM_MAX_MS).
const WARM_TOKENS = 8;
const WARM_MIN_MS = 2_000;
const WARM_MAX_MS = 8_000;
const OUTAGE_MS = 2_000; // Redis down
const TAIL_MS = 2_000; // load after recovery
const REQUEST_TIMEOUT_MS = 5_000; // an answer slower than this counts as none
const RECOVERY_MS = 5_000; // ready and a full flow through, after Redis is back
// A user's pause between pages, so that flows straddle the outage at every step.
const think = () => sleep(Math.random() * 150);

type Step = 'par' | 'authorize' | 'login' | 'consent-page' | 'consent' | 'token' | 'userinfo';
/**
 * ok: the expected answer. unavailable: 503 temporarily_unavailable. lost: a 4xx about state the
 * restarted (empty) Redis no longer holds. violation: anything else (other 5xx, no answer, reset).
 */
type Kind = 'ok' | 'unavailable' | 'lost' | 'violation';

interface Outcome {
  step: Step;
  listener: 'public' | 'mtls';
  /** ms since the load started */
  start: number;
  end: number;
  /** When the state this request relies on was created (the flow's start, or when its token was issued). */
  stateFrom: number;
  status?: number;
  contentType?: string;
  kind: Kind;
  detail?: string;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  t.test('Redis stopped and restarted under load on two replicas taking turns: 503s, not ready, recovery, no double redemption', async (t) => {
    const { pki } = await testPki();
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url, keyPrefix: `fapi-gateway-failover:${randomUUID()}:` });
    const replicas = await startReplicas(pki, configs);
    t.teardown(() =>
      Promise.all(
        replicas.map(async (r) => {
          await r.h.close();
          await r.process.stop('SIGKILL');
        }),
      ),
    );
    const harnesses = replicas.map((r) => r.h);
    // As behind a load balancer that takes turns: every request goes to the other replica than the one before.
    let turn = 0;
    const next = () => harnesses[turn++ % harnesses.length];
    const readiness = () => Promise.all(harnesses.map((h) => opsGet(h, '/readyz').catch(() => ({ status: 0, json: undefined }))));
    t.same(await readiness(), harnesses.map(() => ({ status: 200, json: { status: 'ready' } })), 'both replicas ready before the outage');
    for (const h of harnesses) await fullFlow(h); // a first flow each, so the load starts on warmed-up processes

    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const outcomes: Outcome[] = [];
    const codes = new Map<string, { tokens: number; attempts: number; double: boolean }>();
    let stopping = false;
    let stoppedAt = Infinity;
    let restartedAt = Infinity;

    /** Sends one request, classifies the answer and records it; never throws. */
    const observe = async (
      step: Step,
      stateFrom: number,
      expected: number[],
      send: () => Promise<Reply>,
      options: { lostAllowed?: (reply: Reply) => boolean } = {},
    ): Promise<{ reply?: Reply; kind: Kind }> => {
      const start = now();
      const listener = step === 'par' || step === 'token' || step === 'userinfo' ? 'mtls' : 'public';
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
      });
      let reply: Reply | undefined;
      let kind: Kind;
      let detail: string | undefined;
      try {
        reply = await Promise.race([send(), timeout]);
        const json = reply.json ?? parseJson(reply.text);
        if (expected.includes(reply.status)) kind = 'ok';
        else if (reply.status === 503 && reply.headers['retry-after'] !== undefined && unavailableAnswer(listener, reply, json)) kind = 'unavailable';
        else if (reply.status >= 400 && reply.status < 500 && (options.lostAllowed?.(reply) ?? true)) kind = 'lost';
        else kind = 'violation';
        if (kind !== 'ok') detail = reply.text.replace(/\s+/g, ' ').slice(0, 160);
      } catch (err) {
        kind = 'violation';
        const e = err as Error & { code?: string };
        detail = `${e.code ?? e.name}: ${e.message}`;
      } finally {
        clearTimeout(timer);
      }
      const contentType = reply?.headers['content-type'];
      outcomes.push({ step, listener, start, end: now(), stateFrom, status: reply?.status, contentType: contentType === undefined ? undefined : String(contentType), kind, detail });
      return { reply, kind };
    };

    /** A token request for `code` with a fresh assertion, repeated on 503 as a client honouring Retry-After would. */
    const redeemWithRetry = async (code: string, verifier: string, stateFrom: number, double: boolean): Promise<string | undefined> => {
      const record = codes.get(code)!;
      for (let attempt = 0; attempt < 20 && now() < LOAD_MAX_MS + RECOVERY_MS; attempt++) {
        record.attempts++;
        const h = next();
        const form = { grant_type: 'authorization_code', code, redirect_uri: 'https://client.localhost/callback', code_verifier: verifier, client_id: 'client-one', ...(await h.assertionForm()) };
        // The loser of a double redemption gets invalid_grant; that is the expected answer there.
        const { reply, kind } = await observe('token', stateFrom, double ? [200, 400] : [200], () => h.post('/token', form), {
          lostAllowed: (r) => r.json?.error === 'invalid_grant',
        });
        if (kind === 'unavailable') {
          await sleep(200);
          continue;
        }
        if (reply?.status === 200 && typeof reply.json?.access_token === 'string') {
          record.tokens++;
          return reply.json.access_token as string;
        }
        return undefined;
      }
      return undefined;
    };

    /** One complete flow in `jar`'s browser (it logs in again when the session is gone). */
    const flow = async (jar: CookieJar, double: boolean): Promise<{ token?: string; stateFrom: number }> => {
      const stateFrom = now();
      const { verifier, challenge } = pkce();
      const form = parForm({ code_challenge: challenge });
      const par = await observe('par', stateFrom, [201], async () => {
        const h = next();
        return h.post('/par', { ...form, ...(await h.assertionForm()) });
      });
      if (par.kind !== 'ok') return { stateFrom };
      const requestUri = par.reply!.json.request_uri as string;
      await think();
      let page = await observe('authorize', stateFrom, [200], () => browserRequest(next(), jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(requestUri)}`));
      if (page.kind !== 'ok') return { stateFrom };
      if (page.reply!.text.includes('name="password"')) {
        const { action, csrf } = formOf(page.reply!.text);
        const login = await observe('login', stateFrom, [303], () => browserRequest(next(), jar, action, { csrf, username: 'alice', password: 'wonderland', action: 'login' }));
        if (login.kind !== 'ok') return { stateFrom };
        page = await observe('consent-page', stateFrom, [200], () => browserRequest(next(), jar, login.reply!.headers.location as string));
        if (page.kind !== 'ok') return { stateFrom };
      }
      await think();
      const { action, csrf } = formOf(page.reply!.text);
      const consent = await observe('consent', stateFrom, [303], () => browserRequest(next(), jar, action, { csrf, decision: 'approve' }));
      if (consent.kind !== 'ok') return { stateFrom };
      const code = new URL(consent.reply!.headers.location as string).searchParams.get('code');
      if (!code) {
        outcomes.push({ step: 'consent', listener: 'public', start: now(), end: now(), stateFrom, status: 303, kind: 'violation', detail: `no code: ${consent.reply!.headers.location}` });
        return { stateFrom };
      }
      codes.set(code, { tokens: 0, attempts: 0, double });
      await think();
      if (double) {
        // Two redemptions at once (a client bug, or an attacker racing the client): at most one may win.
        await Promise.all([redeemWithRetry(code, verifier, stateFrom, true), redeemWithRetry(code, verifier, stateFrom, true)]);
        return { stateFrom };
      }
      return { token: await redeemWithRetry(code, verifier, stateFrom, false), stateFrom };
    };

    const worker = async (w: number) => {
      const jar = new CookieJar();
      let held: { token: string; stateFrom: number } | undefined;
      for (let n = 0; !stopping && now() < LOAD_MAX_MS; n++) {
        const result = await flow(jar, n % 4 === w % 4);
        if (result.token) held = { token: result.token, stateFrom: result.stateFrom };
        if (held) {
          const { token, stateFrom } = held;
          // A token issued from the old Redis may be refused once its grant is gone (401): "lost" state.
          await observe('userinfo', stateFrom, [200], () => userinfo(next(), token));
        }
        if (!result.token) await sleep(50);
      }
    };

    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

    const tokensIssued = () => outcomes.filter((o) => o.step === 'token' && o.kind === 'ok' && o.status === 200).length;
    await sleep(WARM_MIN_MS);
    await pollUntil(async () => (tokensIssued() >= WARM_TOKENS ? true : undefined), WARM_MAX_MS - WARM_MIN_MS, 100);
    t.ok(tokensIssued() > 0, `${tokensIssued()} tokens issued before Redis is stopped`);
    stoppedAt = now();
    await redis.stop();
    await sleep(300);
    const readyDuring = await readiness();
    t.same(readyDuring.map((r) => r.status), [503, 503], '/readyz answers 503 on both replicas while Redis is down');
    // Killed: the reconnects are refused (or, in the instant it dies, the connection is just gone).
    t.match(readyDuring[0].json, { status: 'not ready', store: /^(connection refused|unreachable)$/ }, '/readyz names the store and the cause as the reason');
    await sleep(Math.max(0, stoppedAt + OUTAGE_MS - now()));
    await redis.restart();
    restartedAt = now();

    const ready = await pollUntil(async () => ((await readiness()).every((r) => r.status === 200) ? true : undefined), RECOVERY_MS);
    t.ok(ready.value, `/readyz is 200 again on both replicas ${Math.round(ready.elapsedMs)} ms after Redis is back`);
    const recovered = await pollUntil(
      () => Promise.all(harnesses.map((h) => fullFlow(h))).then(
        () => true,
        () => undefined,
      ),
      Math.max(0, RECOVERY_MS - (now() - restartedAt)),
      100,
    );
    const recoveryMs = now() - restartedAt;
    t.ok(recovered.value, `a full flow succeeds on each replica ${Math.round(recoveryMs)} ms after Redis is back`);
    t.ok(recoveryMs <= RECOVERY_MS, `recovered within ${RECOVERY_MS / 1000} s`);

    await sleep(TAIL_MS);
    stopping = true;
    await load;
    const endedAt = now();

    // ---- what happened
    const count = (filter: (o: Outcome) => boolean) => outcomes.filter(filter).length;
    const summary = new Map<string, number>();
    for (const o of outcomes) {
      const key = `${o.step} ${o.status ?? 'error'} ${o.kind}`;
      summary.set(key, (summary.get(key) ?? 0) + 1);
    }
    t.comment(`load ran ${Math.round(endedAt)} ms; Redis down from ${Math.round(stoppedAt)} to ${Math.round(restartedAt)} ms; ${outcomes.length} requests, ${codes.size} codes`);
    for (const [key, n] of [...summary].sort()) t.comment(`  ${key}: ${n}`);
    const publicUnavailable = outcomes.filter((o) => o.kind === 'unavailable' && o.listener === 'public');
    if (publicUnavailable.length) t.comment(`${publicUnavailable.length} 503s came from the public listener, as HTML pages`);

    const violations = outcomes.filter((o) => o.kind === 'violation');
    t.same(violations, [], 'no 5xx other than 503 temporarily_unavailable, no dropped connection, no request without an answer');
    const during = outcomes.filter((o) => o.start >= stoppedAt && o.end <= restartedAt);
    t.same(during.filter((o) => o.kind !== 'ok' && o.kind !== 'unavailable'), [], 'while Redis is down every answer is a success or 503 temporarily_unavailable');
    t.ok(during.some((o) => o.kind === 'unavailable'), `the outage was felt (${count((o) => o.kind === 'unavailable')} 503s)`);
    t.same(outcomes.filter((o) => o.kind === 'lost' && o.stateFrom >= restartedAt), [], 'a 4xx only for state created before the restart (the new Redis is empty)');
    t.ok(count((o) => o.step === 'token' && o.kind === 'ok' && o.status === 200 && o.start > restartedAt) > 0, 'the load got tokens again after the outage');

    const twice = [...codes].filter(([, c]) => c.tokens > 1);
    t.same(twice, [], 'no code was redeemed twice');
    const doubles = [...codes.values()].filter((c) => c.double);
    t.ok(doubles.length > 0, `${doubles.length} codes were redeemed twice at once (${doubles.filter((c) => c.tokens === 1).length} won once, ${doubles.filter((c) => c.tokens === 0).length} not at all)`);
    t.ok(outcomes.length > 0 && endedAt < LOAD_MAX_MS + RECOVERY_MS + REQUEST_TIMEOUT_MS, 'the load loop stayed within its bound');
    if (violations.length || twice.length)
      for (const r of replicas) t.comment(`replica ${r.name} output (tail):\n${r.process.output().split('\n').slice(-30).join('\n')}`);
  });
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The specified 503: JSON `temporarily_unavailable` from the API endpoints, a page naming it from the browser pages. */
function unavailableAnswer(listener: 'public' | 'mtls', reply: { text: string; headers: Record<string, unknown> }, json: any): boolean {
  if (listener === 'mtls') return json?.error === 'temporarily_unavailable';
  return String(reply.headers['content-type']).startsWith('text/html') && reply.text.includes('<code>temporarily_unavailable</code>');
}
