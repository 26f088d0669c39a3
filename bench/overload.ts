/**
 * A login surge and the token endpoint beside it. For each N in `--logins`, a fresh gateway gets N
 * concurrent login flows (PAR → login page → POST the password → consent → token, a new browser
 * each time) for `--seconds`, while `--token-concurrency` loops ask the token endpoint for
 * client_credentials and refresh_token grants. Prints the token endpoint's p50/p99 by grant, the
 * share of logins refused (503 + Retry-After) and how fast they were refused, the gateway's RSS and
 * what /readyz said. See bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Pool } from 'undici';
import { parse } from 'yaml';
import { DEMO_USER } from '../src/config/embedded.js';
import { GATEWAY_OPTIONS, gatewayRun, gatewaySource } from './lib/args.js';
import { startGateway, type GatewayUnderTest, type SigningAlg } from './lib/gateway.js';
import { CookieJar, expectStatus, header, httpsPool, send, type Reply } from './lib/http.js';
import { CLIENT_ID, codeFrom, parBody, pkce, presignAssertions, tokenBody } from './lib/oauth-client.js';
import { benchPki, type BenchPki } from './lib/pki.js';
import { fixed, percentile, printTable } from './lib/stats.js';
import { IMAGE_ALLOCATOR_ENV } from '../test/helpers/image-env.js';

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '48,200' },
    seconds: { type: 'string', default: '30' },
    'token-concurrency': { type: 'string', default: '4' },
    /**
     * Refused browsers come back after Retry-After plus up to as much again (people do not return in
     * step); `--lockstep` drops the spread, `--ignore-retry-after` starts a new flow at once.
     */
    'ignore-retry-after': { type: 'boolean', default: false },
    lockstep: { type: 'boolean', default: false },
    /** The login loops start spread over this many seconds (0: all at once). */
    'ramp-seconds': { type: 'string', default: '1' },
    /** `default` (the gateway's), `unbounded` (no admission in effect: concurrency 256), or `C/Q` (concurrency/queue). */
    hashing: { type: 'string', default: 'default' },
    /** UV_THREADPOOL_SIZE of the gateway (unset: libuv's 4). */
    threadpool: { type: 'string' },
    /** MALLOC_ARENA_MAX of the gateway (as the image sets it); `unset` for glibc's default. */
    'malloc-arenas': { type: 'string', default: '1' },
    alg: { type: 'string', default: 'ES256' },
    ...GATEWAY_OPTIONS,
  },
});
// Pre-signed assertions live 280 s.
const seconds = Math.min(Number(args.seconds), 240);
const tokenConcurrency = Number(args['token-concurrency']);
const alg = args.alg as SigningAlg;

function admissionConfig(hashing: string): Record<string, unknown> | undefined {
  if (hashing === 'default') return undefined;
  if (hashing === 'unbounded') return { admission: { passwordHashing: { concurrency: 256, queue: 0 } } };
  const [concurrency, queue] = hashing.split('/').map(Number);
  return { admission: { passwordHashing: { concurrency, queue } } };
}

// The image's allocator settings, the arenas as --malloc-arenas says.
const env: Record<string, string> = { GLIBC_TUNABLES: IMAGE_ALLOCATOR_ENV.GLIBC_TUNABLES };
if (args.threadpool) env.UV_THREADPOOL_SIZE = args.threadpool;
if (args['malloc-arenas'] !== 'unset') env.MALLOC_ARENA_MAX = args['malloc-arenas']!;

/** RSS of a process in MB (/proc/<pid>/status). */
function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

/** Pre-signed client assertions handed out one by one; undefined once used up. */
class AssertionPool {
  #next = 0;
  constructor(private readonly assertions: string[]) {}
  take(): string | undefined {
    return this.assertions[this.#next++];
  }
  get used(): string {
    return `${Math.min(this.#next, this.assertions.length)} of ${this.assertions.length}`;
  }
}

interface Tally {
  flowsMs: number[];
  loginsOk: number;
  refusedMs: number[];
  /** Refusals after the ramp and the first wave of returns: the surge's steady state. */
  steadyRefusedMs: number[];
  refusedWithoutRetryAfter: number;
  otherFailures: Map<string, number>;
  tokenMs: Record<'authorization_code' | 'client_credentials' | 'refresh_token', number[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const result = await work();
  return [result, performance.now() - t0];
};

function pageForm(page: string): { action: string; csrf: string } {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!action || !csrf) throw new Error(`no form on the page: ${page.slice(0, 120)}`);
  return { action: action.replace(/&amp;/g, '&'), csrf };
}

async function browse(pool: Pool, jar: CookieJar, request: { method: 'GET' | 'POST'; path: string; form?: string }): Promise<Reply> {
  const reply = await send(pool, { ...request, cookie: jar.header(request.path) });
  jar.take(reply);
  return reply;
}

async function run(pki: BenchPki, logins: number): Promise<(string | number)[]> {
  const run = gatewayRun(args);
  const gateway: GatewayUnderTest = await startGateway(pki, { ...run, alg, config: admissionConfig(args.hashing!), env });
  const ops = opsUrl(gateway);
  const mtls = httpsPool(gateway.mtlsBase, { ca: pki.ca, client: pki.clientOne, connections: logins + tokenConcurrency });
  const browser = httpsPool(gateway.issuer, { ca: pki.ca, connections: logins });
  const pid = gateway.server.pid;
  try {
    // Enough assertions for the busiest run seen on 2 cores, signed before the timed window (the
    // loops stop when they run out: the summary says how many were used of how many).
    const perSecond = (args['ignore-retry-after'] ? 4 : 2) * logins + 50 * tokenConcurrency;
    const pool = new AssertionPool(await presignAssertions(pki.clientOne.jwk, gateway.issuer, 1000 + seconds * perSecond));
    const tally: Tally = { flowsMs: [], loginsOk: 0, refusedMs: [], steadyRefusedMs: [], refusedWithoutRetryAfter: 0, otherFailures: new Map(), tokenMs: { authorization_code: [], client_credentials: [], refresh_token: [] } };
    const fail = (err: unknown) => {
      const message = (err as Error).message.slice(0, 100);
      tally.otherFailures.set(message, (tally.otherFailures.get(message) ?? 0) + 1);
    };

    /** One login flow; returns the token response. Refused logins are retried (after Retry-After unless told otherwise). */
    let steadyFrom = Number.POSITIVE_INFINITY;
    const flow = async (deadline: number, record: boolean): Promise<Record<string, string> | undefined> => {
      const [parAssertion, tokenAssertion] = [pool.take(), pool.take()];
      if (!parAssertion || !tokenAssertion) return undefined;
      const t0 = performance.now();
      const { verifier, challenge } = pkce();
      const pushed = expectStatus(await send(mtls, { method: 'POST', path: '/par', form: parBody(parAssertion, challenge) }), 201, 'PAR');
      const requestUri = (JSON.parse(pushed.text) as { request_uri: string }).request_uri;
      const jar = new CookieJar();
      const page = expectStatus(await browse(browser, jar, { method: 'GET', path: `/authorize?client_id=${CLIENT_ID}&request_uri=${encodeURIComponent(requestUri)}` }), 200, 'authorize');
      const login = pageForm(page.text);
      const body = new URLSearchParams({ csrf: login.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }).toString();
      for (;;) {
        const [answer, ms] = await timed(() => browse(browser, jar, { method: 'POST', path: login.action, form: body }));
        if (answer.status === 303) {
          if (record) tally.loginsOk++;
          const consent = pageForm(expectStatus(await browse(browser, jar, { method: 'GET', path: header(answer, 'location')! }), 200, 'consent page').text);
          const done = expectStatus(await browse(browser, jar, { method: 'POST', path: consent.action, form: new URLSearchParams({ csrf: consent.csrf, decision: 'approve' }).toString() }), 303, 'consent');
          const [token, tokenMs] = await timed(() => send(mtls, { method: 'POST', path: '/token', form: tokenBody(tokenAssertion, codeFrom(header(done, 'location')), verifier) }));
          expectStatus(token, 200, 'token');
          if (record) {
            tally.tokenMs.authorization_code.push(tokenMs);
            tally.flowsMs.push(performance.now() - t0);
          }
          return JSON.parse(token.text) as Record<string, string>;
        }
        // The admission refusal is a page; a JSON 503 is load shedding (event loop too slow), a failure here.
        if (answer.status !== 503 || !String(header(answer, 'content-type')).startsWith('text/html')) expectStatus(answer, 0, 'login');
        const retryAfter = Number(header(answer, 'retry-after'));
        if (record) {
          tally.refusedMs.push(ms);
          if (performance.now() > steadyFrom) tally.steadyRefusedMs.push(ms);
          if (!(retryAfter > 0)) tally.refusedWithoutRetryAfter++;
        }
        if (args['ignore-retry-after'] || performance.now() + retryAfter * 1000 > deadline) return undefined;
        await sleep(retryAfter * 1000 * (args.lockstep ? 1 : 1 + Math.random()));
      }
    };

    // Warm-up: one flow, and the refresh token the token loops use.
    const warm = await flow(Number.POSITIVE_INFINITY, false);
    const refreshToken = warm!.refresh_token;
    const assertionForm = (assertion: string) => ({
      client_id: CLIENT_ID,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    const idleRss = rssMb(pid);

    const start = performance.now();
    const deadline = start + seconds * 1000;
    steadyFrom = start + Number(args['ramp-seconds']) * 1000 + 5000;
    const cpuBefore = { server: gateway.server.cpuMs(), bench: process.cpuUsage() };
    const readiness = new Map<string, number>();
    let maxRss = idleRss;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, rssMb(pid));
      fetch(`${ops}/readyz`, { signal: AbortSignal.timeout(2000) })
        .then(async (res) => `${res.status} ${res.status === 200 ? '' : JSON.stringify(await res.json())}`.trim())
        .catch(() => 'no answer')
        .then((s) => readiness.set(s, (readiness.get(s) ?? 0) + 1));
    }, 250);

    const ramp = Number(args['ramp-seconds']) * 1000;
    const loginLoop = async (_: unknown, worker: number) => {
      await sleep((ramp * worker) / logins);
      while (performance.now() < deadline) await flow(deadline, true).catch(fail);
    };
    const tokenLoop = async (worker: number) => {
      for (let i = worker; performance.now() < deadline; i++) {
        const assertion = pool.take();
        if (!assertion) return;
        const grant = i % 2 === 0 ? 'client_credentials' : 'refresh_token';
        const form: Record<string, string> = grant === 'client_credentials' ? { grant_type: grant, scope: 'accounts' } : { grant_type: grant, refresh_token: refreshToken };
        try {
          const [reply, ms] = await timed(() => send(mtls, { method: 'POST', path: '/token', form: new URLSearchParams({ ...form, ...assertionForm(assertion) }).toString() }));
          expectStatus(reply, 200, grant);
          tally.tokenMs[grant].push(ms);
        } catch (err) {
          fail(err);
        }
      }
    };
    await Promise.all([...Array.from({ length: logins }, loginLoop), ...Array.from({ length: tokenConcurrency }, (_, w) => tokenLoop(w))]);
    clearInterval(sampler);
    const elapsed = (performance.now() - start) / 1000;
    const benchCpu = process.cpuUsage(cpuBefore.bench);
    const cores = { server: (gateway.server.cpuMs() - cpuBefore.server) / 1000 / elapsed, bench: (benchCpu.user + benchCpu.system) / 1e6 / elapsed };
    await sleep(2000);
    const afterRss = rssMb(pid);

    for (const list of [tally.flowsMs, tally.refusedMs, tally.steadyRefusedMs, ...Object.values(tally.tokenMs)]) list.sort((a, b) => a - b);
    const attempts = tally.loginsOk + tally.refusedMs.length;
    const returns = args['ignore-retry-after'] ? 'refused browsers start again at once' : `refused browsers return after Retry-After${args.lockstep ? '' : ' (+0-100 %)'}`;
    console.log(`\n${logins} concurrent login flows for ${fixed(elapsed, 1)} s, ramp ${args['ramp-seconds']} s, ${returns} (${gatewaySource(args)}, hashing ${args.hashing}${args.threadpool ? `, UV_THREADPOOL_SIZE=${args.threadpool}` : ''}, MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX ?? 'unset'})`);
    console.log(`  logins: ${tally.loginsOk} succeeded, ${tally.refusedMs.length} refused with 503 (${fixed((100 * tally.refusedMs.length) / Math.max(1, attempts), 1)} %), refusal p50/p99 ${fixed(percentile(tally.refusedMs, 50), 1)}/${fixed(percentile(tally.refusedMs, 99), 1)} ms (from ramp + 5 s on: ${fixed(percentile(tally.steadyRefusedMs, 50), 1)}/${fixed(percentile(tally.steadyRefusedMs, 99), 1)} ms)${tally.refusedWithoutRetryAfter ? `, ${tally.refusedWithoutRetryAfter} without Retry-After` : ''}`);
    console.log(`  completed flows: ${tally.flowsMs.length}, p50/p99 ${fixed(percentile(tally.flowsMs, 50), 0)}/${fixed(percentile(tally.flowsMs, 99), 0)} ms (including waits after Retry-After)`);
    for (const [grant, list] of Object.entries(tally.tokenMs)) console.log(`  token ${grant}: ${list.length}, p50/p99 ${fixed(percentile(list, 50), 1)}/${fixed(percentile(list, 99), 1)} ms`);
    console.log(`  RSS: idle ${fixed(idleRss, 0)} MB, max ${fixed(maxRss, 0)} MB, 2 s after ${fixed(afterRss, 0)} MB; assertions used ${pool.used}`);
    console.log(`  CPU: gateway ${fixed(cores.server)} cores, this bench ${fixed(cores.bench)} cores (load average ${loadavg().map((l) => fixed(l, 1)).join(' ')})`);
    console.log(`  /readyz samples: ${[...readiness].map(([s, n]) => `${n} × ${s}`).join(', ')}`);
    for (const [message, n] of tally.otherFailures) console.log(`  failed ${n} × ${message}`);
    const loadToken = [...tally.tokenMs.client_credentials, ...tally.tokenMs.refresh_token].sort((a, b) => a - b);
    const readySamples = [...readiness.values()].reduce((a, b) => a + b, 0);
    return [
      logins,
      tally.loginsOk,
      tally.refusedMs.length,
      fixed(percentile(tally.refusedMs, 99), 1),
      fixed(percentile(loadToken, 50), 1),
      fixed(percentile(loadToken, 99), 1),
      fixed(percentile(tally.tokenMs.authorization_code, 99), 1),
      `${fixed((100 * [...readiness].filter(([s]) => !s.startsWith('200')).reduce((a, [, n]) => a + n, 0)) / Math.max(1, readySamples), 0)} %`,
      fixed(maxRss, 0),
      fixed(afterRss, 0),
      [...tally.otherFailures.values()].reduce((a, b) => a + b, 0),
    ];
  } finally {
    await Promise.all([mtls.close(), browser.close()]);
    await gateway.server.stop();
  }
}

/** The ops listener's URL, from the config file the bench wrote. */
function opsUrl(gateway: GatewayUnderTest): string {
  const config = parse(readFileSync(gateway.configFile, 'utf8')) as { listeners: { ops: { port: number } } };
  return `http://127.0.0.1:${config.listeners.ops.port}`;
}

const pki = await benchPki();
const rows: (string | number)[][] = [];
try {
  for (const n of args.logins!.split(',').map(Number)) rows.push(await run(pki, n));
} finally {
  await pki.remove();
}
console.log();
printTable(['logins', 'ok', '503', 'refusal p99 ms', 'token p50 ms', 'token p99 ms', 'code→token p99 ms', '/readyz 503', 'max RSS MB', 'RSS after MB', 'errors'], rows);
