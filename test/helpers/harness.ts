import { rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/app.js';
import { embeddedConfig } from '../../src/config/embedded.js';
import { resolveConfig } from '../../src/config/load.js';
import { ensureDevPki, type DevPki } from '../../src/devpki/dev-pki.js';
import { freePort } from './ports.js';

export { freePort };

export type ClientName = 'client-one' | 'client-two';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface Harness {
  /** The gateway when it runs in this process (a connected harness of another process has none). */
  gateway: Gateway;
  pki: DevPki;
  issuer: string;
  mtlsBase: string;
  ca: Buffer;
  /** Every line the gateway logged (JSON). */
  logs: string[];
  /** A TLS agent presenting `client`'s certificate, or none. */
  agent(client?: ClientName | { cert: string | Buffer; key: string | Buffer }): Agent;
  /** A fresh client assertion for client-one (or `clientId`'s key file), with overrides. */
  assertion(claims?: Partial<JWTPayload> & Record<string, unknown>, options?: { clientId?: ClientName; header?: Record<string, unknown>; key?: CryptoKey | Uint8Array }): Promise<string>;
  /** POSTs a form to the mTLS listener. */
  post(pathname: string, form: Record<string, string> | string, options?: { client?: ClientName | null; headers?: Record<string, string>; agent?: Agent }): Promise<Response>;
  get(url: string, options?: { client?: ClientName | null; headers?: Record<string, string> }): Promise<Response>;
  /** The form a private_key_jwt client sends to authenticate. */
  assertionForm(claims?: Record<string, unknown>): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Changes the embedded config before it is loaded. */
  configure?: (config: Record<string, any>) => void | Promise<void>;
  gatewayOptions?: GatewayOptions;
}

let sharedPki: Promise<{ dir: string; pki: DevPki }> | undefined;

/** One dev PKI per test process; it is generated once and removed at exit. */
export function testPki(): Promise<{ dir: string; pki: DevPki }> {
  sharedPki ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-test-'));
    const pki = await ensureDevPki(dir);
    // Synchronous: nothing asynchronous runs once the process is exiting.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return { dir, pki };
  })();
  return sharedPki;
}


/** Builds the embedded config for a test: loopback listeners on free ports, the test PKI. */
export async function testConfig(pki: DevPki): Promise<Record<string, any>> {
  const [pub, mtls, ops] = [await freePort(), await freePort(), await freePort()];
  const config = await embeddedConfig(pki);
  config.issuer = `https://localhost:${pub}`;
  config.listeners = {
    public: { host: '127.0.0.1', port: pub },
    mtls: { host: '127.0.0.1', port: mtls, url: `https://localhost:${mtls}` },
    ops: { host: '127.0.0.1', port: ops },
  };
  config.log = { level: 'info' };
  // Several gateways share a busy test process on two cores: an event-loop stall there is the test
  // run's, not overload to shed. The tests of load shedding set their own thresholds.
  config.loadShedding = { maxEventLoopDelayMs: 0 };
  return config;
}

export async function startGateway(options: HarnessOptions = {}): Promise<Harness> {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  await options.configure?.(config);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const loaded = await resolveConfig(config, dir, {});
  const gateway = await createGateway(loaded, { logger: { level: 'info', stream: sink }, ...options.gatewayOptions });
  await gateway.listen();
  return connectHarness({ pki, issuer: loaded.config.issuer, mtlsBase: gateway.context.urls.mtlsBase, gateway, logs });
}

/** A client-side harness for a gateway at known URLs: one started in this process, or another process. */
export async function connectHarness(target: { pki: DevPki; issuer: string; mtlsBase: string; gateway?: Gateway; logs?: string[] }): Promise<Harness> {
  const { pki, gateway } = target;
  const logs = target.logs ?? [];
  const ca = await readFile(pki.ca);
  const agents = new Map<string, Agent>();
  const newAgent = (credentials?: { cert: string | Buffer; key: string | Buffer }) =>
    new Agent({ connect: { ca, servername: 'localhost', ...credentials } });
  for (const name of ['client-one', 'client-two'] as const)
    agents.set(name, newAgent({ cert: await readFile(pki.clients[name].cert), key: await readFile(pki.clients[name].key) }));
  agents.set('none', newAgent());
  const agent: Harness['agent'] = (client) => {
    if (client === undefined) return agents.get('none')!;
    if (typeof client === 'string') return agents.get(client)!;
    const custom = newAgent(client);
    agents.set(randomUUID(), custom);
    return custom;
  };
  const keys = new Map<string, { key: CryptoKey; kid: string; alg: string }>();
  const keyFor = async (clientId: ClientName) => {
    let k = keys.get(clientId);
    if (!k) {
      const jwk = JSON.parse(await readFile(pki.clients[clientId].jwk, 'utf8')) as JWK;
      k = { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid!, alg: jwk.alg! };
      keys.set(clientId, k);
    }
    return k;
  };

  const { issuer, mtlsBase } = target;

  const assertion: Harness['assertion'] = async (claims = {}, opts = {}) => {
    const clientId = opts.clientId ?? 'client-one';
    const { key, kid, alg } = await keyFor(clientId);
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = { iss: clientId, sub: clientId, aud: issuer, iat: now, exp: now + 60, jti: randomUUID(), ...claims };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg, kid, ...opts.header } as never).sign(opts.key ?? key);
  };

  const send = async (url: string, init: { method: string; body?: string; headers?: Record<string, string>; dispatcher: Agent }): Promise<Response> =>
    readResponse(await request(url, { method: init.method as never, body: init.body, headers: init.headers, dispatcher: init.dispatcher }));

  return {
    gateway: gateway as Gateway,
    pki,
    issuer,
    mtlsBase,
    ca,
    logs,
    agent,
    assertion,
    async assertionForm(claims = {}) {
      return {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion(claims),
      };
    },
    post(pathname, form, opts = {}) {
      const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
      const client = opts.client === undefined ? 'client-one' : opts.client;
      return send(new URL(pathname, mtlsBase + '/').toString(), {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers },
        dispatcher: opts.agent ?? agent(client ?? undefined),
      });
    },
    get(url, opts = {}) {
      const client = opts.client === undefined ? null : opts.client;
      return send(url, { method: 'GET', headers: opts.headers, dispatcher: agent(client ?? undefined) });
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()));
      await gateway?.close(0);
    },
  };
}

/** Reads an undici response whole: status, headers, text, and the JSON when the text is JSON. */
export async function readResponse(res: Dispatcher.ResponseData): Promise<Response> {
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** A valid PAR form for client-one, before client authentication. */
export function parForm(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const form: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: 'client-one',
    redirect_uri: 'https://client.localhost/callback',
    scope: 'openid accounts',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    state: 'state-' + randomUUID(),
    nonce: 'nonce-' + randomUUID(),
    ...overrides,
  };
  for (const k of Object.keys(form)) if (form[k] === undefined) delete form[k];
  return form as Record<string, string>;
}
