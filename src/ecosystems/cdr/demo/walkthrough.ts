import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { createGateway } from '../../../app.js';
import { DEMO_USER, embeddedConfig } from '../../../config/embedded.js';
import { resolveConfig } from '../../../config/load.js';
import { ensureDevPki, publicJwk } from '../../../devpki/dev-pki.js';
import { send, type Reply } from '../../../demo/https-client.js';

/** Where the CDR walk-through's own gateway listens (beside `npm start`'s 8443/8444/9090). */
const PORTS = { public: 8643, mtls: 8644, ops: 9290 };
const ISSUER = `https://localhost:${PORTS.public}`;
const REDIRECT_URI = 'https://recipient.localhost/callback';
const SHARING_DURATION = 90 * 86_400;

const step = (n: number, title: string) => console.log(`\n\x1b[1m${n}. ${title}\x1b[0m`);
const show = (label: string, value: unknown) => console.log(`   ${label.padEnd(16)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
const short = (token: string) => (token.length > 40 ? `${token.slice(0, 24)}…${token.slice(-8)} (${token.length} chars)` : token);

/**
 * `npm run demo -- --profile cdr`: a CDR data holder (profile cdr) started here on the dev PKI, and a
 * data recipient (client-one) taking it through an arrangement's life: a signed request object with
 * `sharing_duration` at PAR, login and consent, tokens carrying `cdr_arrangement_id`, refresh-token
 * introspection, the recipient's CDR Arrangement Revocation, and the tokens refused afterwards.
 */
export async function walkthrough(): Promise<void> {
  const pki = await ensureDevPki(fileURLToPath(new URL('../../../../certs/dev/', import.meta.url)));
  const config = await embeddedConfig(pki);
  Object.assign(config, {
    issuer: ISSUER,
    profile: 'cdr',
    listeners: { public: { host: '127.0.0.1', port: PORTS.public }, mtls: { host: '127.0.0.1', port: PORTS.mtls, url: `https://localhost:${PORTS.mtls}` }, ops: { host: '127.0.0.1', port: PORTS.ops } },
    // Development only: a real deployment keeps this secret out of the file (FAPI_GATEWAY_PAIRWISE_SECRET).
    subjects: { pairwiseSecret: randomBytes(32).toString('base64url') },
    ecosystem: { brandId: 'demo-brand' },
    routes: [],
    log: { level: 'warn' },
    clients: [
      {
        client_id: 'client-one',
        client_name: 'Demo data recipient',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [await publicJwk(pki.clients['client-one'].jwk)] },
        redirect_uris: [REDIRECT_URI],
        scope: 'openid profile bank:accounts.basic:read bank:transactions:read',
        grant_types: ['authorization_code', 'refresh_token'],
      },
    ],
  });
  const gateway = await createGateway(await resolveConfig(config, process.cwd()));
  await gateway.listen();
  try {
    await walk(pki);
  } finally {
    await gateway.close(2000);
  }
}

async function walk(pki: Awaited<ReturnType<typeof ensureDevPki>>): Promise<void> {
  const ca = await readFile(pki.ca);
  const client = { ca, cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) };
  const browser = { ca };
  const jwk = JSON.parse(await readFile(pki.clients['client-one'].jwk, 'utf8')) as JWK;
  const key = await importJWK(jwk, jwk.alg);
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, typ?: string) =>
    new SignJWT({ iss: 'client-one', aud: ISSUER, iat: now(), exp: now() + 60, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, ...(typ ? { typ } : {}) })
      .sign(key);
  const authentication = async () => ({ client_id: 'client-one', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await sign({ sub: 'client-one' }) });
  const expect = (reply: Reply, status: number, what: string) => {
    if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.slice(0, 300)}`);
    return reply;
  };
  const post = async (url: string, form: Record<string, string>) => send(url, { tls: client, form: { ...form, ...(await authentication()) } });

  step(1, 'Discovery (profile cdr)');
  const metadata = JSON.parse(expect(await send(`${ISSUER}/.well-known/openid-configuration`, { tls: browser }), 200, 'discovery').body);
  const endpoints: Record<string, string> = { ...metadata, ...metadata.mtls_endpoint_aliases };
  show('subject types', metadata.subject_types_supported);
  show('acr values', metadata.acr_values_supported);
  show('claims', metadata.claims_supported.filter((c: string) => ['sharing_duration', 'cdr_arrangement_id', 'acr'].includes(c)));
  show('revocation', metadata.cdr_arrangement_revocation_endpoint);

  step(2, `PAR: a signed request object asking for sharing_duration ${SHARING_DURATION} s (90 days) and acr urn:cds.au:cdr:2`);
  const verifier = randomBytes(32).toString('base64url');
  const request = await sign(
    {
      client_id: 'client-one',
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid bank:accounts.basic:read',
      state: randomBytes(12).toString('base64url'),
      nonce: randomBytes(12).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      nbf: now(),
      exp: now() + 300,
      claims: { sharing_duration: SHARING_DURATION, id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:2' } } },
    },
    'oauth-authz-req+jwt',
  );
  show('request', short(request));
  const par = JSON.parse(expect(await post(endpoints.pushed_authorization_request_endpoint, { request }), 201, 'PAR').body);
  show('request_uri', par.request_uri);
  show('expires_in', par.expires_in);

  step(3, `The customer signs in as ${DEMO_USER.username} and approves`);
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
  const loginPage = expect(await browse(`${metadata.authorization_endpoint}?client_id=client-one&request_uri=${encodeURIComponent(par.request_uri)}`), 200, 'authorization');
  const login = formOn(loginPage.body);
  const afterLogin = expect(await browse(login.action, { csrf: login.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }), 303, 'login');
  const consentPage = expect(await browse(String(afterLogin.headers.location)), 200, 'consent page');
  const consent = formOn(consentPage.body);
  const callback = new URL(String(expect(await browse(consent.action, { csrf: consent.csrf, decision: 'approve' }), 303, 'consent').headers.location));
  show('redirect', `${callback.origin}${callback.pathname}?code=…`);

  step(4, 'Tokens: the arrangement id comes with them');
  const tokens = JSON.parse(
    expect(await post(endpoints.token_endpoint, { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: verifier }), 200, 'token').body,
  );
  show('cdr_arrangement_id', tokens.cdr_arrangement_id);
  show('access_token', `${short(tokens.access_token)}, expires_in ${tokens.expires_in}`);
  show('refresh_token', short(tokens.refresh_token));
  const idToken = decodeJwt(tokens.id_token);
  show('id_token', `sub ${idToken.sub} (pairwise), acr ${idToken.acr}, no personal information`);

  step(5, 'Introspection: refresh tokens only (CDS)');
  const introspected = JSON.parse(expect(await post(endpoints.introspection_endpoint, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }), 200, 'introspection').body);
  show('refresh token', { active: introspected.active, scope: introspected.scope, cdr_arrangement_id: introspected.cdr_arrangement_id });
  show('exp', `${new Date(introspected.exp * 1000).toISOString()} (the end of the sharing duration)`);
  show('access token', JSON.parse(expect(await post(endpoints.introspection_endpoint, { token: tokens.access_token }), 200, 'introspection').body));

  step(6, 'The recipient revokes the arrangement (CDR Arrangement Revocation)');
  const revoked = expect(await post(metadata.cdr_arrangement_revocation_endpoint, { cdr_arrangement_id: tokens.cdr_arrangement_id }), 204, 'revocation');
  show('answer', `${revoked.status} No Content`);
  show('again', JSON.parse(expect(await post(metadata.cdr_arrangement_revocation_endpoint, { cdr_arrangement_id: tokens.cdr_arrangement_id }), 422, 'second revocation').body).errors[0].code);

  step(7, 'Every token of the arrangement is refused');
  const userinfo = await send(endpoints.userinfo_endpoint, { tls: client, headers: { authorization: `Bearer ${tokens.access_token}` } });
  show('access token', `${userinfo.status} ${JSON.parse(userinfo.body).error}`);
  const refresh = await post(endpoints.token_endpoint, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  show('refresh token', `${refresh.status} ${JSON.parse(refresh.body).error}`);
  if (userinfo.status !== 401 || refresh.status !== 400) throw new Error('a token of the revoked arrangement still works');
  console.log('\nDone: PAR with sharing_duration, login and consent, tokens with cdr_arrangement_id, introspection, arrangement revocation, tokens refused.');
}
