/**
 * Registered clients across two gateway replicas on one real Redis: registered (or added by the
 * CLI) on one, usable on the other at once; updated or deleted on one, seen by the other within a
 * second (change notices over pub/sub). Also the CLI's own behaviour on the shared store.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { exportJWK } from 'jose';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { readResponse, testPki, type Response } from './helpers/harness.js';
import { DIRECTORY_ISSUER, startDirectory, sha256Hex, type FakeDirectory } from './helpers/directory.js';
import { authorizationUrl, authorizeAt, issueTestClientCertificate, pkce } from './helpers/flow.js';
import { requireProgram } from './helpers/programs.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { pollUntil, replicaConfigs, startReplicas, type Replica, type ReplicaHarness } from './helpers/replicas.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const REDIRECT_URI = 'https://tpp.example/callback';
const SECOND_URI = 'https://tpp.example/second';

if (requireProgram(t, 'redis-server', 'apt-get install redis-server')) {
  let redis: RedisServer;
  let replicas: Replica[];
  let A: ReplicaHarness;
  let B: ReplicaHarness;
  let directory: FakeDirectory;
  let dir: string;
  let configFileA: string;
  const agents: Agent[] = [];

  t.before(async () => {
    const { pki } = await testPki();
    redis = await startRedisServer();
    directory = await startDirectory(pki);
    dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-dcr-'));
    // The directory's keys from a file this time (the other test fetches them from a URL).
    const jwksFile = path.join(dir, 'directory-jwks.json');
    await writeFile(jwksFile, await (await request(directory.jwksUri, { dispatcher: new Agent({ connect: { ca: await readFile(pki.ca) } }) })).body.text());
    const configs = await replicaConfigs(pki, 2, { type: 'redis', url: redis.url, keyPrefix: `fapi-gateway-dcr:${randomUUID()}:` });
    for (const config of configs)
      config.registration = { enabled: true, directories: [{ issuer: DIRECTORY_ISSUER, jwksFile }], initialAccessTokenSha256: [sha256Hex('unused')] };
    configFileA = path.join(dir, 'a.yaml');
    await writeFile(configFileA, stringify(configs[0]));
    replicas = await startReplicas(pki, configs);
    [A, B] = replicas.map((r) => r.h);
  });

  t.teardown(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await Promise.all((replicas ?? []).map(async (r) => {
      await r.h.close();
      await r.process.stop('SIGKILL');
    }));
    await redis?.stop();
    await directory?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tls_client_auth identity: its certificate's agent and registered subject. */
  async function identity(): Promise<{ agent: Agent; dn: string; name: string }> {
    const name = `tpp-${randomUUID().slice(0, 8)}`;
    const credentials = await issueTestClientCertificate(A, `C=AU, O=TPP, CN=${name}`);
    const agent = new Agent({ connect: { ca: A.ca, servername: 'localhost', ...credentials } });
    agents.push(agent);
    return { agent, dn: `CN=${name},O=TPP,C=AU`, name };
  }

  async function call(h: ReplicaHarness, method: string, pathname: string, agent: Agent, options: { json?: unknown; token?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    return readResponse(await request(new URL(pathname, h.mtlsBase + '/').toString(), { method: method as never, headers, body, dispatcher: agent }));
  }

  async function registerOn(h: ReplicaHarness, who: { agent: Agent; dn: string; name: string }) {
    const statement = await directory.statement({ software_id: `software-${who.name}`, scope: 'openid accounts' });
    const metadata = { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: who.dn, grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [REDIRECT_URI], software_statement: statement };
    const res = await call(h, 'POST', '/register', who.agent, { json: metadata });
    if (res.status !== 201) throw new Error(`registration: ${res.status} ${res.text}`);
    return { clientId: res.json.client_id as string, token: res.json.registration_access_token as string, metadata: res.json };
  }

  const par = (h: ReplicaHarness, clientId: string, agent: Agent, redirectUri = REDIRECT_URI, challenge = pkce().challenge) =>
    h.post('/par', { response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid accounts', code_challenge: challenge, code_challenge_method: 'S256', state: randomUUID() }, { agent });

  /** PAR on `first`, browser and token on `second`: the tokens. */
  async function flow(first: ReplicaHarness, second: ReplicaHarness, clientId: string, agent: Agent) {
    const { verifier, challenge } = pkce();
    const pushed = await par(first, clientId, agent, REDIRECT_URI, challenge);
    if (pushed.status !== 201) throw new Error(`PAR: ${pushed.status} ${pushed.text}`);
    const redirect = await authorizeAt(second, authorizationUrl(clientId, pushed.json.request_uri));
    const code = redirect.searchParams.get('code')!;
    const token = await second.post('/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: clientId }, { agent });
    if (token.status !== 200) throw new Error(`token: ${token.status} ${token.text}`);
    return token.json;
  }

  const userinfo = async (h: ReplicaHarness, accessToken: string, agent: Agent) =>
    readResponse(await request(`${h.mtlsBase}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` }, dispatcher: agent }));

  /** Polls until `pushedStatus` is what PAR on `h` answers; the value is the status seen, undefined after 1 s. */
  const parBecomes = (h: ReplicaHarness, clientId: string, agent: Agent, status: number, redirectUri = REDIRECT_URI) =>
    pollUntil(async () => ((await par(h, clientId, agent, redirectUri)).status === status ? status : undefined), 1_000, 25);

  t.test('registered on A: a flow on B at once, and back', async (t) => {
    const who = await identity();
    const { clientId } = await registerOn(A, who);
    const tokens = await flow(B, A, clientId, who.agent);
    t.ok(tokens.access_token, 'PAR on B right after registering on A, token on A');
    t.equal((await userinfo(B, tokens.access_token, who.agent)).status, 200, 'a resource call on B');
  });

  t.test('updated on A: B uses the new metadata within a second', async (t) => {
    const who = await identity();
    const { clientId, token, metadata } = await registerOn(A, who);
    t.equal((await par(B, clientId, who.agent)).status, 201, 'B has the client (and caches it)');
    t.equal((await par(B, clientId, who.agent, SECOND_URI)).status, 400, 'the second redirect URI is not registered yet');
    const replacement = { ...metadata, redirect_uris: [SECOND_URI], software_statement: await directory.statement({ software_id: `software-${who.name}`, scope: 'openid accounts' }) };
    delete replacement.registration_client_uri;
    delete replacement.registration_access_token;
    delete replacement.client_id_issued_at;
    const updated = await call(A, 'PUT', `/register/${clientId}`, who.agent, { token, json: replacement });
    t.equal(updated.status, 200, updated.text);
    const { value } = await parBecomes(B, clientId, who.agent, 201, SECOND_URI);
    t.equal(value, 201, 'B accepts the new redirect URI within a second');
    t.equal((await par(B, clientId, who.agent)).status, 400, 'and refuses the replaced one');
    t.equal((await call(B, 'GET', `/register/${clientId}`, who.agent, { token: updated.json.registration_access_token })).status, 200, 'the rotated token works on B');
  });

  t.test('deleted on A: refused on B within a second; its tokens refused on B at once', async (t) => {
    const who = await identity();
    const { clientId, token } = await registerOn(A, who);
    const tokens = await flow(B, B, clientId, who.agent);
    t.equal((await userinfo(B, tokens.access_token, who.agent)).status, 200, 'B has the client cached and its token works');
    t.equal((await call(A, 'DELETE', `/register/${clientId}`, who.agent, { token })).status, 204);
    t.equal((await userinfo(B, tokens.access_token, who.agent)).status, 401, 'the access token is refused on B at once');
    const { value } = await parBecomes(B, clientId, who.agent, 401);
    t.equal(value, 401, 'B refuses the client within a second');
    const refreshed = await B.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }, { agent: who.agent });
    t.equal(refreshed.status, 401, 'the refresh token is refused on B');
    t.equal((await call(B, 'GET', `/register/${clientId}`, who.agent, { token })).status, 401, 'the registration is gone on B');
  });

  const cli = (...args: string[]) => cliWith(configFileA, ...args);
  const cliWith = (configFile: string, ...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'clients', ...args, '--config', configFile], { cwd: ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );

  t.test('the CLI adds, lists, shows and removes clients on the shared store', async (t) => {
    const who = await identity();
    const clientId = `cli-${who.name}`;
    const file = path.join(dir, `${clientId}.yaml`);
    await writeFile(file, stringify({ client_id: clientId, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: who.dn, redirect_uris: [REDIRECT_URI], scope: 'openid accounts', grant_types: ['authorization_code'] }));
    const added = await cli('add', file);
    t.equal(added.code, 0, added.stderr);
    t.match(added.stdout, `added ${clientId}`);
    t.equal((await par(B, clientId, who.agent)).status, 201, 'B knows the client at once');

    const listed = await cli('list');
    t.equal(listed.code, 0, listed.stderr);
    t.match(listed.stdout, /^client-one\tconfig\t/m, 'config clients are listed');
    t.match(listed.stdout, new RegExp(`^${clientId}\\tcli\\ttls_client_auth`, 'm'), 'and the added one');
    const shown = await cli('show', clientId);
    t.equal(shown.code, 0);
    t.equal(JSON.parse(shown.stdout).metadata.tls_client_auth_subject_dn, who.dn);
    t.notMatch(shown.stdout, /accessTokenHash|certificateThumbprint/, 'no credentials shown');

    const duplicate = await cli('remove', 'client-one');
    t.equal(duplicate.code, 78, 'a config client cannot be removed here');
    t.match(duplicate.stderr, /clients remove: "client-one" is a client of the config file/);

    const removed = await cli('remove', clientId);
    t.equal(removed.code, 0, removed.stderr);
    const { value } = await parBecomes(B, clientId, who.agent, 401);
    t.equal(value, 401, 'B refuses the removed client within a second');
    t.equal((await cli('remove', clientId)).code, 1, 'removing it again: not found');
  });

  t.test('re-added under the id of a deleted client: the deleted client\'s refresh token stays refused', async (t) => {
    const who = await identity();
    const { clientId, token } = await registerOn(A, who);
    const tokens = await flow(B, B, clientId, who.agent);
    t.equal((await call(A, 'DELETE', `/register/${clientId}`, who.agent, { token })).status, 204);
    // Grant and registration times are whole seconds: the new registration must come a second later.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const file = path.join(dir, `${clientId}.yaml`);
    await writeFile(file, stringify({ client_id: clientId, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: who.dn, redirect_uris: [REDIRECT_URI], scope: 'openid accounts', grant_types: ['authorization_code', 'refresh_token'] }));
    const added = await cli('add', file);
    t.equal(added.code, 0, added.stderr);
    const { value } = await parBecomes(B, clientId, who.agent, 201);
    t.equal(value, 201, 'B knows the new client');
    const refreshed = await B.post('/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }, { agent: who.agent });
    t.equal(refreshed.status, 400, refreshed.text);
    t.equal(refreshed.json?.error, 'invalid_grant', 'a grant older than the registration is not the new client\'s');
  });

  t.test('the CLI checks a client as the config does and names the key path', async (t) => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, stringify({ token_endpoint_auth_method: 'private_key_jwt', redirect_uris: ['http://tpp.example/cb'], jwks: { keys: [{ ...(await exportJWK((await (await import('jose')).generateKeyPair('ES256')).publicKey)), kid: 'k' }] } }));
    const bad = await cli('add', file);
    t.equal(bad.code, 78);
    t.match(bad.stderr, /configuration error: client\.redirect_uris\[0\]: must use https/);
    await writeFile(file, stringify({ token_endpoint_auth_method: 'private_key_jwt', redirect_uris: [REDIRECT_URI], jwks_uri: 'https://10.255.255.1/jwks.json' }));
    const unreachable = await cli('add', file);
    t.equal(unreachable.code, 78);
    t.match(unreachable.stderr, /client\.jwks_uri: cannot be fetched: .*not a public address/);
    const unknown = await cli('frobnicate');
    t.equal(unknown.code, 78);
    const memoryConfig = path.join(dir, 'memory.yaml');
    await writeFile(memoryConfig, stringify({ ...replicas[0].config, store: { type: 'memory' } }));
    const memory = await cliWith(memoryConfig, 'list');
    t.equal(memory.code, 78, 'a memory store is refused');
    t.match(memory.stderr, /store: the clients command acts on a shared store/);
  });
}
