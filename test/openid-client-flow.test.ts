import t, { type Test } from 'tap';
import * as client from 'openid-client';
import { readFile } from 'node:fs/promises';
import { fetch as undiciFetch, type Agent } from 'undici';
import { startGateway, type ClientName, type Harness } from './helpers/harness.js';
import { authorizeAt, pemThumbprint } from './helpers/flow.js';
import { privateKeyJwt } from './helpers/openid-client.js';

// The whole flow driven by an independent, certified relying-party library (openid-client v6 on
// oauth4webapi): discovery, PAR, the authorization response with iss/state checks, the code grant
// with PKCE and ID token validation, userinfo, refresh, introspection and revocation, over mutual TLS.

const REDIRECT_URI = 'https://client.localhost/callback';

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h.close());

/** Passes when `promise` rejects with an error matching `expected` (openid-client errors carry error/status). */
async function fails(t: Test, promise: Promise<unknown>, expected: Record<string, unknown>, message: string): Promise<void> {
  try {
    await promise;
    t.fail(`${message}: no error`);
  } catch (err) {
    t.match(err, expected, message);
  }
}

/** fetch over `agent`: the test CA as trust anchor and the client's certificate for mutual TLS. */
function fetchOver(agent: Agent): client.CustomFetch {
  return (url, options) => undiciFetch(url, { ...options, dispatcher: agent } as never) as unknown as Promise<Response>;
}

async function configure(clientId: ClientName): Promise<client.Configuration> {
  let auth: client.ClientAuth;
  if (clientId === 'client-one') {
    auth = await privateKeyJwt(h.pki, clientId);
  } else {
    auth = client.TlsClientAuth();
  }
  const config = await client.discovery(new URL(h.issuer), clientId, { use_mtls_endpoint_aliases: true }, auth, {
    [client.customFetch]: fetchOver(h.agent(clientId)),
  });
  return config;
}

for (const clientId of ['client-one', 'client-two'] as const) {
  t.test(`openid-client as ${clientId}`, async (t) => {
    const config = await configure(clientId);
    const metadata = config.serverMetadata();
    t.equal(metadata.issuer, h.issuer, 'discovered the issuer');
    t.equal(metadata.require_pushed_authorization_requests, true);
    t.equal(metadata.mtls_endpoint_aliases?.token_endpoint, `${h.mtlsBase}/token`);

    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile accounts',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    t.equal(authorizationUrl.origin + authorizationUrl.pathname, `${h.issuer}/authorize`);
    t.same([...authorizationUrl.searchParams.keys()].sort(), ['client_id', 'request_uri'], 'only client_id and request_uri on the URL');

    const callback = await authorizeAt(h, authorizationUrl.href);
    t.equal(callback.searchParams.get('iss'), h.issuer);

    // A tampered response is caught by the library: checks are really on.
    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'not-the-state');
    await t.rejects(client.authorizationCodeGrant(config, tampered, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }), 'a wrong state is rejected');

    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    t.equal(tokens.token_type.toLowerCase(), 'bearer');
    t.ok(tokens.refresh_token, 'a refresh token');
    const claims = tokens.claims();
    t.ok(claims, 'an ID token the library validated');
    t.equal(claims!.sub, 'alice-7f3c');
    t.equal(claims!.aud, clientId);
    t.equal(claims!.nonce, nonce);
    t.type(claims!.auth_time, 'number');

    const info = await client.fetchUserInfo(config, tokens.access_token, claims!.sub);
    t.equal(info.sub, 'alice-7f3c');
    t.equal(info.name, 'Alice Example');

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    t.ok(refreshed.access_token);
    t.not(refreshed.access_token, tokens.access_token);
    t.equal((await client.fetchUserInfo(config, refreshed.access_token, 'alice-7f3c')).sub, 'alice-7f3c', 'the refreshed access token works');

    const introspection = await client.tokenIntrospection(config, refreshed.access_token);
    t.equal(introspection.active, true);
    t.equal(introspection.client_id, clientId);
    t.equal(introspection.scope, 'openid profile accounts');
    const cnf = introspection.cnf as Record<string, string> | undefined;
    t.equal(cnf?.['x5t#S256'], pemThumbprint(await readFile(h.pki.clients[clientId].cert)), 'bound to our certificate');
    t.equal((await client.tokenIntrospection(config, tokens.refresh_token!, { token_type_hint: 'refresh_token' })).active, true);

    await client.tokenRevocation(config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    t.equal((await client.tokenIntrospection(config, tokens.refresh_token!)).active, false, 'revoked');
    t.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false, 'its access tokens too');
    await fails(t, client.refreshTokenGrant(config, tokens.refresh_token!), { error: 'invalid_grant' }, 'refresh refused');
    await fails(t, client.fetchUserInfo(config, refreshed.access_token, 'alice-7f3c'), { status: 401 }, 'userinfo refused');
  });
}

t.test('openid-client sees the errors a relying party must handle', async (t) => {
  const config = await configure('client-one');
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid accounts',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const denied = await authorizeAt(h, url.href, { decision: 'deny' });
  await fails(t, client.authorizationCodeGrant(config, denied, { pkceCodeVerifier: verifier, expectedState: state }), { error: 'access_denied' }, 'access_denied reaches the client');

  await fails(
    t,
    client.buildAuthorizationUrlWithPAR(config, { redirect_uri: 'https://evil.example/cb', scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
    { error: 'invalid_request' },
    'an unregistered redirect_uri is refused at PAR',
  );

  const cc = await client.clientCredentialsGrant(config, { scope: 'accounts' });
  t.ok(cc.access_token);
  t.notOk(cc.id_token);
  await fails(t, client.fetchUserInfo(config, cc.access_token, client.skipSubjectCheck), { status: 403 }, 'no openid scope, no userinfo');
});
