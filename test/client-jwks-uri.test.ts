/**
 * A private_key_jwt client registered with `jwks_uri` instead of `jwks`: the gateway fetches the
 * client's keys over HTTPS (trusting the system roots plus NODE_EXTRA_CA_CERTS, as an operator would
 * set it), caches them, and refuses assertions it cannot verify with invalid_client, never a 5xx.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { exportJWK, generateKeyPair } from 'jose';
import { freePort, parForm, testConfig, testPki } from './helpers/harness.js';
import { spawnGateway, type GatewayProcess } from './helpers/gateway-process.js';
import { pollUntil, replicaHarness, type ReplicaHarness } from './helpers/replicas.js';

let jwksServer: Server;
let gateway: GatewayProcess;
let h: ReplicaHarness;
/** What the client's JWKS endpoint answers; changed by the tests. */
let answer: { status: number; body: string };
let fetches = 0;

t.before(async () => {
  const { pki } = await testPki();
  const publicJwk = JSON.parse(await readFile(pki.clients['client-one'].jwk, 'utf8'));
  delete publicJwk.d;
  answer = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
  jwksServer = createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, (req, res) => {
    if (req.url === '/broken.json') return res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream trouble');
    if (req.url === '/not-json.json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [');
    fetches++;
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const base = `https://localhost:${(jwksServer.address() as AddressInfo).port}`;
  const jwksUri = `${base}/jwks.json`;

  const config = await testConfig(pki);
  const one = config.clients.find((c: { client_id: string }) => c.client_id === 'client-one');
  delete one.jwks;
  one.jwks_uri = jwksUri;
  // Clients whose key endpoint fails: an error page, a truncated document, nothing listening.
  for (const [clientId, uri] of [['client-broken', `${base}/broken.json`], ['client-not-json', `${base}/not-json.json`], ['client-unreachable', `https://localhost:${await freePort()}/jwks.json`]])
    config.clients.push({ ...one, client_id: clientId, jwks_uri: uri });
  config.log = { level: 'warn' };
  gateway = await spawnGateway(config, { NODE_EXTRA_CA_CERTS: pki.ca });
  h = await replicaHarness(pki, config, 'gateway');
});

t.teardown(async () => {
  await h?.close();
  await gateway?.stop();
  jwksServer?.close();
});

const par = async (assertion?: string, clientId = 'client-one') =>
  h.post('/par', { ...parForm({ client_id: clientId }), client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion ?? (await h.assertion()) }, { client: 'client-one' });

t.test('assertions verify with keys fetched from jwks_uri, fetched once and then cached', async (t) => {
  const first = await par();
  t.equal(first.status, 201, first.text);
  const second = await par();
  t.equal(second.status, 201, second.text);
  t.equal(fetches, 1, 'one fetch for both');
});

t.test('an assertion signed with a key that is not in the client JWKS: invalid_client', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  t.ok(jwk.x, 'a fresh key');
  const res = await par(await h.assertion({}, { key: privateKey, header: { kid: 'not-registered' } }));
  t.equal(res.status, 401);
  t.equal(res.json.error, 'invalid_client');
  t.equal(res.headers['cache-control'], 'no-store');
});

t.test('an assertion with the registered kid but another key: invalid_client', async (t) => {
  const { privateKey } = await generateKeyPair('ES256');
  const res = await par(await h.assertion({}, { key: privateKey }));
  t.equal(res.status, 401);
  t.equal(res.json.error, 'invalid_client');
});

t.test('a client whose jwks_uri fails: invalid_client, never a 5xx', async (t) => {
  for (const clientId of ['client-broken', 'client-not-json', 'client-unreachable']) {
    const res = await par(await h.assertion({ iss: clientId, sub: clientId }), clientId);
    t.equal(res.status, 401, `${clientId}: 401`);
    t.equal(res.json?.error, 'invalid_client', `${clientId}: invalid_client`);
    t.equal(res.json?.error_description, "the client's keys could not be fetched from its jwks_uri");
  }
  t.equal((await par()).status, 201, 'the client with a working jwks_uri is unaffected');
  // Log lines are buffered for at most a second.
  const auditLines = () => gateway.output().split('\n').filter((line) => line.includes('"reason":"jwks_unavailable"'));
  const { value: audits = [] } = await pollUntil(async () => (auditLines().length >= 3 ? auditLines() : undefined), 5_000);
  t.equal(audits.length, 3, 'each failure is logged with the reason jwks_unavailable');
  t.ok(audits.some((line) => line.includes('"detail":"jwks_uri https://localhost:') && line.includes('Expected 200 OK')), 'and what went wrong');
});
