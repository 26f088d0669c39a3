#!/usr/bin/env node
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { DEMO_REDIRECT_URI, DEMO_USER } from '../config/embedded.js';
import { devPkiFiles } from '../devpki/dev-pki.js';
import { send as sendOnce, type Reply } from './https-client.js';
import { REPLICAS } from './replica-ports.js';
import { loadProfile } from '../config/profile.js';

/**
 * `npm run demo`: the whole FAPI 2.0 flow against a gateway started with `npm start` (embedded
 * defaults), as client-one with the dev certificates, printing each step. `--dpop`: the same with
 * DPoP-bound tokens (RFC 9449), without a client certificate, at discovery's plain endpoints.
 * `--signed`: the authorization request as a signed request object (RFC 9101). `--profile brazil`:
 * the Open Finance Brasil run (consents), self-contained.
 */
const ISSUER = process.env.FAPI_GATEWAY_ISSUER ?? 'https://localhost:8443';
// --replicas (against `npm run replicas`): every request goes to the other replica than the one before.
const alternate = process.argv.includes('--replicas');
const dpop = process.argv.includes('--dpop');
// --signed: the authorization request goes to PAR as a signed request object (RFC 9101); the gateway
// must take them (FAPI_GATEWAY_PROFILE=fapi2-message-signing npm start).
const signed = process.argv.includes('--signed');
const toB = new Map<string, string>([
  [String(REPLICAS.A.public), String(REPLICAS.B.public)],
  [String(REPLICAS.A.mtls), String(REPLICAS.B.mtls)],
]);
const served: string[] = [];
const send: typeof sendOnce = (url, options) => {
  if (!alternate) return sendOnce(url, options);
  const target = new URL(url);
  const onB = served.length % 2 === 1 && toB.has(target.port);
  if (onB) target.port = toB.get(target.port)!;
  served.push(onB ? 'B' : 'A');
  return sendOnce(target.toString(), options);
};
const pki = devPkiFiles(fileURLToPath(new URL('../../certs/dev/', import.meta.url)));

const step = (n: number, title: string) => console.log(`\n\x1b[1m${n}. ${title}\x1b[0m`);
const show = (label: string, value: unknown) => console.log(`   ${label.padEnd(14)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
const short = (token: string) => (token.length > 40 ? `${token.slice(0, 24)}…${token.slice(-8)} (${token.length} chars)` : token);

async function main(): Promise<void> {
  const ca = await readFile(pki.ca).catch(() => {
    throw new Error(`no dev PKI at ${pki.dir}: start the gateway first (npm start)`);
  });
  const client = { ca, cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) };
  const browser = { ca };
  const jwk = JSON.parse(await readFile(pki.clients['client-one'].jwk, 'utf8')) as JWK;
  const signingKey = await importJWK(jwk, jwk.alg);
  const assertion = async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid })
      .setIssuer('client-one')
      .setSubject('client-one')
      .setAudience(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(signingKey);
    return { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt };
  };
  // The authorization parameters as claims of a JWT signed with client-one's key, for this issuer, 5 minutes.
  const requestObject = async (parameters: Record<string, string>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...parameters, jti: randomUUID() })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: 'oauth-authz-req+jwt' })
      .setIssuer('client-one')
      .setAudience(ISSUER)
      .setNotBefore(now)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(signingKey);
  };
  // DPoP: a key pair of the client's, and a proof for every back-channel request (RFC 9449 §4).
  let dpopKey = await generateKeyPair('ES256');
  let dpopNonce: string | undefined;
  const proof = async (method: string, url: string, accessToken?: string) =>
    new SignJWT({
      jti: randomUUID(),
      htm: method,
      htu: url.split('?')[0],
      iat: Math.floor(Date.now() / 1000),
      ...(accessToken ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
      ...(dpopNonce ? { nonce: dpopNonce } : {}),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(dpopKey.publicKey) })
      .sign(dpopKey.privateKey);
  /** A back-channel request: with a certificate, or (--dpop) with a proof, sent again once if the server wants a nonce. */
  const backChannel = async (url: string, options: { form?: Record<string, string>; accessToken?: string; method?: string }): Promise<Reply> => {
    const method = options.method ?? (options.form ? 'POST' : 'GET');
    const once = async () =>
      send(url, {
        tls: dpop ? browser : client,
        form: options.form && { ...options.form, ...(url.endsWith('/par') || url.endsWith('/token') ? await assertion() : {}) },
        headers: {
          ...(options.accessToken ? { authorization: `${dpop ? 'DPoP' : 'Bearer'} ${options.accessToken}` } : {}),
          ...(dpop ? { dpop: await proof(method, url, options.accessToken) } : {}),
        },
      });
    let reply = await once();
    const wantsNonce = reply.body.includes('use_dpop_nonce') || String(reply.headers['www-authenticate'] ?? '').includes('use_dpop_nonce');
    if (dpop && wantsNonce && reply.headers['dpop-nonce']) {
      dpopNonce = String(reply.headers['dpop-nonce']);
      reply = await once();
    }
    if (reply.headers['dpop-nonce']) dpopNonce = String(reply.headers['dpop-nonce']);
    return reply;
  };
  const expect = (reply: Reply, status: number, what: string) => {
    if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.slice(0, 300)}`);
    return reply;
  };

  step(1, 'Discovery');
  const metadata = JSON.parse(expect(await send(`${ISSUER}/.well-known/openid-configuration`, { tls: browser }), 200, 'discovery').body);
  // A client with a certificate uses the mTLS aliases (RFC 8705 §5); a DPoP client the plain endpoints.
  const endpoints: Record<string, string> = dpop ? metadata : { ...metadata, ...metadata.mtls_endpoint_aliases };
  show('issuer', metadata.issuer);
  show('PAR endpoint', endpoints.pushed_authorization_request_endpoint);
  show('token', endpoints.token_endpoint);
  if (dpop) show('DPoP algs', metadata.dpop_signing_alg_values_supported);

  step(2, `Pushed authorization request (${dpop ? 'private_key_jwt, a DPoP proof binds the code to our key' : 'private_key_jwt over mutual TLS'}${signed ? ', as a signed request object' : ''})`);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const parameters = {
    client_id: 'client-one',
    response_type: 'code',
    redirect_uri: DEMO_REDIRECT_URI,
    scope: 'openid profile accounts',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  };
  if (signed && !metadata.request_parameter_supported)
    throw new Error('this gateway takes no request objects: start it with FAPI_GATEWAY_PROFILE=fapi2-message-signing npm start');
  const form: Record<string, string> = signed ? { client_id: 'client-one', request: await requestObject(parameters) } : parameters;
  if (signed) show('request', short(form.request));
  const par = expect(await backChannel(endpoints.pushed_authorization_request_endpoint, { form }), 201, 'PAR');
  const { request_uri: requestUri, expires_in: expiresIn } = JSON.parse(par.body);
  show('request_uri', requestUri);
  show('expires_in', expiresIn);

  step(3, `The browser: login page, sign in as ${DEMO_USER.username}, consent`);
  const cookies = new Map<string, string>();
  const browse = async (url: string, form?: Record<string, string>) => {
    const reply = await send(new URL(url, ISSUER).toString(), { tls: browser, form, headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const line of [reply.headers['set-cookie'] ?? []].flat()) {
      const [pair] = line.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return reply;
  };
  const formOn = (page: string) => ({
    action: /<form method="post" action="([^"]+)"/.exec(page)![1].replace(/&amp;/g, '&'),
    csrf: /name="csrf" value="([^"]+)"/.exec(page)![1],
  });
  const loginPage = expect(await browse(`${metadata.authorization_endpoint}?client_id=client-one&request_uri=${encodeURIComponent(requestUri)}`), 200, 'authorization');
  show('page', /<h1>([^<]+)/.exec(loginPage.body)?.[1]);
  const login = formOn(loginPage.body);
  const afterLogin = expect(await browse(login.action, { csrf: login.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }), 303, 'login');
  const consentPage = expect(await browse(String(afterLogin.headers.location)), 200, 'consent page');
  show('page', /<h1>([^<]+)/.exec(consentPage.body)?.[1]);
  const consent = formOn(consentPage.body);
  const approved = expect(await browse(consent.action, { csrf: consent.csrf, decision: 'approve' }), 303, 'consent');
  const callback = new URL(String(approved.headers.location));
  show('redirect', `${callback.origin}${callback.pathname}?code=…&state=…&iss=${callback.searchParams.get('iss')}`);
  if (callback.searchParams.get('state') !== state) throw new Error('state mismatch');
  if (callback.searchParams.get('iss') !== metadata.issuer) throw new Error('iss mismatch (RFC 9207)');

  step(4, 'Token request: the code, the PKCE verifier, a fresh client assertion');
  const tokens = JSON.parse(
    expect(
      await backChannel(endpoints.token_endpoint, {
        form: { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: DEMO_REDIRECT_URI, code_verifier: verifier },
      }),
      200,
      'token',
    ).body,
  );
  show('access_token', short(tokens.access_token));
  const claims = decodeJwt(tokens.access_token);
  const cnf = claims.cnf as Record<string, string>;
  if (dpop) show('bound to', `cnf.jkt = ${cnf.jkt} (our DPoP key; token_type ${tokens.token_type})`);
  else show('bound to', `cnf.x5t#S256 = ${cnf['x5t#S256']} (client-one's certificate)`);
  show('scope', tokens.scope);
  show('id_token', `sub ${decodeJwt(tokens.id_token).sub}, nonce ${decodeJwt(tokens.id_token).nonce === nonce ? 'matches' : 'MISMATCH'}`);
  show('refresh_token', short(tokens.refresh_token));

  step(5, dpop ? 'Userinfo with the DPoP-bound token and a proof' : 'Userinfo with the certificate-bound token');
  show('claims', JSON.parse(expect(await backChannel(endpoints.userinfo_endpoint, { accessToken: tokens.access_token }), 200, 'userinfo').body));
  if (dpop) {
    const asBearer = await send(endpoints.userinfo_endpoint, { tls: browser, headers: { authorization: `Bearer ${tokens.access_token}` } });
    show('as Bearer', `${asBearer.status} ${JSON.parse(asBearer.body).error} (a DPoP-bound token needs a proof of our key)`);
  } else {
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const stolen = await send(endpoints.userinfo_endpoint, { tls: { ca, cert: await readFile(pki.clients['client-two'].cert), key: await readFile(pki.clients['client-two'].key) }, headers: bearer });
    show('other cert', `${stolen.status} ${JSON.parse(stolen.body).error} (the token is useless without client-one's key)`);
  }

  step(6, dpop ? 'Refresh, proving a new DPoP key (RFC 9449 §5)' : 'Refresh');
  if (dpop) dpopKey = await generateKeyPair('ES256');
  const refreshed = JSON.parse(
    expect(await backChannel(endpoints.token_endpoint, { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token } }), 200, 'refresh').body,
  );
  show('access_token', short(refreshed.access_token));
  if (dpop) show('bound to', `cnf.jkt = ${(decodeJwt(refreshed.access_token).cnf as Record<string, string>).jkt} (the new key: ${await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey))})`);

  step(7, "The bank's API through the gateway: GET /accounts");
  const accounts = expect(await backChannel(`${new URL(endpoints.token_endpoint).origin}/accounts`, { accessToken: refreshed.access_token }), 200, 'accounts');
  show('interaction id', accounts.headers['x-fapi-interaction-id']);
  for (const account of JSON.parse(accounts.body).data.accounts) show('account', `${account.accountId} ${account.displayName} (${account.currency})`);
  console.log(`\nDone: PAR, login and consent, ${dpop ? 'DPoP-bound' : 'certificate-bound'} tokens, userinfo, refresh and a proxied API call.`);
  if (alternate) console.log(`Replicas, request by request: ${served.join(' ')}`);
}

/**
 * `--profile NAME`: a profile of an ecosystem pack walks its own flow (the pack's demo/walkthrough.ts,
 * which starts its own gateway on the dev PKI).
 */
async function ecosystemWalkthrough(): Promise<boolean> {
  const at = process.argv.indexOf('--profile');
  if (at < 0) return false;
  const name = process.argv[at + 1] ?? '';
  const { ecosystem } = await loadProfile(name, undefined);
  if (ecosystem === null) throw new Error(`profile ${name} has no walk-through of its own: start the gateway with FAPI_GATEWAY_PROFILE=${name} npm start, then npm run demo`);
  const pack = (await import(`../ecosystems/${ecosystem}/demo/walkthrough.js`)) as { walkthrough(): Promise<void> };
  await pack.walkthrough();
  return true;
}

ecosystemWalkthrough().then((done) => (done ? undefined : main())).catch((err) => {
  // Nothing listens where the gateway should: the most common first-run slip.
  if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
    const start = alternate ? 'start the replicas first (npm run replicas)' : 'start the gateway first (npm start)';
    console.error(`\ndemo failed: nothing answers at ${ISSUER}: ${start}, then run the demo again`);
    process.exit(1);
  }
  console.error(`\ndemo failed: ${(err as Error).message}`);
  process.exit(1);
});
