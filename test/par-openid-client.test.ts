// An end-to-end pushed authorization request made by an independent client library (openid-client
// v6): discovery over TLS, private_key_jwt (and tls_client_auth) client authentication, PAR.
import { readFile } from 'node:fs/promises';
import { importJWK, type JWK } from 'jose';
import * as client from 'openid-client';
import t from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { REQUEST_URI_PREFIX, type PushedRequest } from '../src/oauth/par.js';
import { startGateway, type ClientName, type Harness } from './helpers/harness.js';

let h: Harness;
const agents: Agent[] = [];
t.before(async () => {
  h = await startGateway();
});
t.teardown(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await h?.close();
});

/** openid-client's fetch: undici over TLS trusting the test CA and presenting `name`'s certificate. */
async function mtlsFetch(name: ClientName): Promise<client.CustomFetch> {
  const agent = new Agent({
    connect: { ca: h.ca, cert: await readFile(h.pki.clients[name].cert), key: await readFile(h.pki.clients[name].key) },
  });
  agents.push(agent);
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response>;
}

async function clientOneKey(): Promise<client.PrivateKey> {
  const jwk = JSON.parse(await readFile(h.pki.clients['client-one'].jwk, 'utf8')) as JWK;
  return { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid };
}

/** The type of a subtest's `t`. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** Checks the authorization URL and what the gateway stored under its request_uri. */
async function checkAuthorizationUrl(t: Tap, url: URL, clientId: string, pushed: Record<string, string>) {
  t.equal(url.origin + url.pathname, `${h.issuer}/authorize`, 'the authorization endpoint from discovery');
  t.same([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], 'only client_id and request_uri on the URL');
  t.equal(url.searchParams.get('client_id'), clientId);
  const requestUri = url.searchParams.get('request_uri')!;
  t.match(requestUri, /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43,}$/);
  const stored = await h.gateway.context.store.get<PushedRequest>('par', requestUri.slice(REQUEST_URI_PREFIX.length));
  t.ok(stored, 'the gateway holds the pushed request');
  t.equal(stored?.request.clientId, clientId);
  t.equal(stored?.request.redirectUri, pushed.redirect_uri);
  t.equal(stored?.request.codeChallenge, pushed.code_challenge);
  t.equal(stored?.request.state, pushed.state);
  t.equal(stored?.request.scope, pushed.scope);
}

async function pushedParameters(): Promise<Record<string, string>> {
  const verifier = client.randomPKCECodeVerifier();
  return {
    redirect_uri: DEMO_REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  };
}

t.test('discovery over TLS finds the PAR endpoint and its mTLS alias', async (t) => {
  const config = await client.discovery(new URL(h.issuer), 'client-one', undefined, client.PrivateKeyJwt(await clientOneKey()), {
    [client.customFetch]: await mtlsFetch('client-one'),
  });
  const metadata = config.serverMetadata();
  t.equal(metadata.issuer, h.issuer);
  t.equal(metadata.pushed_authorization_request_endpoint, `${h.mtlsBase}/par`, 'the plain endpoint is on the mTLS listener (discovery.plainEndpoints: mtls, the default)');
  t.equal(metadata.mtls_endpoint_aliases?.pushed_authorization_request_endpoint, `${h.mtlsBase}/par`);
  t.equal(metadata.require_pushed_authorization_requests, true);
  t.ok(metadata.supportsPKCE(), 'PKCE S256 is advertised');
});

t.test('private_key_jwt client: buildAuthorizationUrlWithPAR with the plain endpoints', async (t) => {
  const config = await client.discovery(new URL(h.issuer), 'client-one', undefined, client.PrivateKeyJwt(await clientOneKey()), {
    [client.customFetch]: await mtlsFetch('client-one'),
  });
  const pushed = await pushedParameters();
  const url = await client.buildAuthorizationUrlWithPAR(config, pushed);
  await checkAuthorizationUrl(t, url, 'client-one', pushed);
});

t.test('private_key_jwt client: buildAuthorizationUrlWithPAR through the mTLS endpoint aliases', async (t) => {
  const config = await client.discovery(
    new URL(h.issuer),
    'client-one',
    { use_mtls_endpoint_aliases: true },
    client.PrivateKeyJwt(await clientOneKey()),
    { [client.customFetch]: await mtlsFetch('client-one') },
  );
  const pushed = await pushedParameters();
  const url = await client.buildAuthorizationUrlWithPAR(config, pushed);
  await checkAuthorizationUrl(t, url, 'client-one', pushed);
});

t.test('tls_client_auth client: buildAuthorizationUrlWithPAR', async (t) => {
  const config = await client.discovery(new URL(h.issuer), 'client-two', { use_mtls_endpoint_aliases: true }, client.TlsClientAuth(), {
    [client.customFetch]: await mtlsFetch('client-two'),
  });
  const pushed = await pushedParameters();
  const url = await client.buildAuthorizationUrlWithPAR(config, pushed);
  await checkAuthorizationUrl(t, url, 'client-two', pushed);
});

t.test('the gateway error reaches openid-client as an OAuth error', async (t) => {
  const config = await client.discovery(new URL(h.issuer), 'client-one', undefined, client.PrivateKeyJwt(await clientOneKey()), {
    [client.customFetch]: await mtlsFetch('client-one'),
  });
  const pushed = { ...(await pushedParameters()), redirect_uri: 'https://attacker.example/callback' };
  const err = await client.buildAuthorizationUrlWithPAR(config, pushed).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, client.ResponseBodyError);
  t.equal((err as client.ResponseBodyError).error, 'invalid_request');
  t.equal((err as client.ResponseBodyError).status, 400);
});
