import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { createGateway } from '../../../app.js';
import { resolveConfig } from '../../../config/load.js';
import { DEMO_REDIRECT_URI, DEMO_USER, embeddedConfig } from '../../../config/embedded.js';
import { ensureDevPki } from '../../../devpki/dev-pki.js';
import { sampleBank } from '../../../sample-bank/server.js';
import { send, type Reply } from '../../../demo/https-client.js';

/**
 * `npm run demo -- --profile brazil`: an Open Finance Brasil run, self-contained. It starts a gateway on
 * `profile: brazil` and the sample bank on loopback (throw-away PKI, PS256 keys), then walks consent
 * creation → PAR with consent:<id> → login with a matching CPF → account choice → tokens → userinfo
 * and an accounts call → the TPP revokes the consent → the tokens are refused.
 */
const CPF = '76109277673';
const URN_PREFIX = 'bancoexemplo';
const OFB_ACCOUNTS = '/open-banking/accounts/v2/accounts';

const step = (n: number, title: string) => console.log(`\n\x1b[1m${n}. ${title}\x1b[0m`);
const show = (label: string, value: unknown) => console.log(`   ${label.padEnd(16)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
const short = (token: string) => (token.length > 40 ? `${token.slice(0, 24)}…${token.slice(-8)} (${token.length} chars)` : token);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function walkthrough(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-brazil-demo-'));
  const pki = await ensureDevPki(dir);
  // OFB: PS256 only, for the bank's keys and the TPP's.
  const serverKeys = path.join(dir, 'brazil-signing-keys.jwks.json');
  const { privateKey: bankKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  await writeFile(serverKeys, JSON.stringify({ keys: [{ ...(await exportJWK(bankKey)), kid: 'bank-ps256-1', alg: 'PS256', use: 'sig' }] }), { mode: 0o600 });
  const { privateKey: tppKey, publicKey: tppPublic } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  const tppJwk = { ...(await exportJWK(tppPublic)), kid: 'tpp-ps256-1', alg: 'PS256', use: 'sig' } as JWK;

  const [pub, mtls, ops, bankPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const bank = sampleBank();
  await bank.listen({ host: '127.0.0.1', port: bankPort });
  const config = await embeddedConfig(pki);
  Object.assign(config, {
    issuer: `https://localhost:${pub}`,
    profile: 'brazil',
    listeners: { public: { host: '127.0.0.1', port: pub }, mtls: { host: '127.0.0.1', port: mtls, url: `https://localhost:${mtls}` }, ops: { host: '127.0.0.1', port: ops } },
    keys: { signing: serverKeys },
    ecosystem: { bankUrnPrefix: URN_PREFIX, consents: { accounts: { 'alice-7f3c': [{ id: 'br-conta-0001', label: 'Conta corrente 0001' }, { id: 'br-poupanca-0002', label: 'Poupança 0002' }] } } },
    // The sample bank's OFB accounts API behind the OFB conventions: the consent must grant ACCOUNTS_READ.
    routes: [{ prefix: OFB_ACCOUNTS, upstream: `http://127.0.0.1:${bankPort}`, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000, ecosystem: { permissions: ['ACCOUNTS_READ'], version: '2.4.2' } }],
    log: { level: 'warn' },
  });
  const users = config.users as Record<string, any>[];
  users[0].claims = { ...users[0].claims, cpf: CPF };
  config.clients = [
    {
      client_id: 'tpp-one',
      client_name: 'Participante Exemplo',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [tppJwk] },
      redirect_uris: [DEMO_REDIRECT_URI],
      scope: 'openid accounts consents resources',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    },
  ];
  const gateway = await createGateway(await resolveConfig(config, dir, {}), { logger: { level: 'error' } });
  await gateway.listen();
  try {
    await walk(gateway.context.urls.issuer, { ca: await readFile(pki.ca), cert: await readFile(pki.clients['client-one'].cert), key: await readFile(pki.clients['client-one'].key) }, await importJWK({ ...(await exportJWK(tppKey)), alg: 'PS256' }, 'PS256'));
  } finally {
    await gateway.close(0);
    await bank.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function walk(issuer: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, tppKey: CryptoKey | Uint8Array): Promise<void> {
  const browser = { ca: tls.ca };
  const expect = (reply: Reply, status: number, what: string) => {
    if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.slice(0, 300)}`);
    return reply;
  };
  const assertion = async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'PS256', kid: 'tpp-ps256-1' })
      .setIssuer('tpp-one')
      .setSubject('tpp-one')
      .setAudience(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(tppKey);
    return { client_id: 'tpp-one', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt };
  };
  const json = (reply: Reply) => JSON.parse(reply.body);
  const api = (url: string, method: string, token: string, body?: unknown) =>
    sendJson(url, method, { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': randomUUID() }, tls, body);

  step(1, 'Discovery (public listener)');
  const metadata = json(expect(await send(`${issuer}/.well-known/openid-configuration`, { tls: browser }), 200, 'discovery'));
  const endpoints = { ...metadata, ...metadata.mtls_endpoint_aliases };
  show('auth methods', metadata.token_endpoint_auth_methods_supported);
  show('ID token algs', metadata.id_token_signing_alg_values_supported);
  show('acr values', metadata.acr_values_supported);
  show('token (mTLS)', endpoints.token_endpoint);
  const mtlsBase = new URL(endpoints.token_endpoint).origin;
  const consents = `${mtlsBase}/open-banking/consents/v3/consents`;

  step(2, 'The TPP gets a client_credentials token (scope consents), bound to its certificate');
  const cc = json(expect(await send(endpoints.token_endpoint, { tls, form: { grant_type: 'client_credentials', scope: 'consents', ...(await assertion()) } }), 200, 'client_credentials'));
  show('access_token', short(cc.access_token));

  step(3, `POST ${new URL(consents).pathname}: a consent for the customer with CPF ${CPF}`);
  const created = json(
    expect(
      await api(consents, 'POST', cc.access_token, {
        data: { loggedUser: { document: { identification: CPF, rel: 'CPF' } }, permissions: ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ'] },
      }),
      201,
      'consent creation',
    ),
  );
  const consentId: string = created.data.consentId;
  show('consentId', consentId);
  show('status', created.data.status);
  show('permissions', created.data.permissions);

  step(4, `PAR with scope "openid accounts consent:${consentId}"`);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const par = json(
    expect(
      await send(endpoints.pushed_authorization_request_endpoint, {
        tls,
        form: {
          response_type: 'code',
          redirect_uri: DEMO_REDIRECT_URI,
          scope: `openid accounts consent:${consentId}`,
          state,
          nonce: randomBytes(12).toString('base64url'),
          code_challenge: createHash('sha256').update(verifier).digest('base64url'),
          code_challenge_method: 'S256',
          ...(await assertion()),
        },
      }),
      201,
      'PAR',
    ),
  );
  show('request_uri', par.request_uri);

  step(5, `The browser (Accept-Language: pt-BR): sign in as ${DEMO_USER.username} (CPF ${CPF}), choose an account, approve`);
  const cookies = new Map<string, string>();
  const browse = async (url: string, form?: Record<string, string>) => {
    const reply = await send(new URL(url, issuer).toString(), { tls: browser, form, headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'accept-language': 'pt-BR' } });
    for (const line of [reply.headers['set-cookie'] ?? []].flat()) {
      const [pair] = line.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return reply;
  };
  const formOn = (page: string) => ({ action: /<form method="post" action="([^"]+)"/.exec(page)![1].replace(/&amp;/g, '&'), csrf: /name="csrf" value="([^"]+)"/.exec(page)![1] });
  const loginPage = expect(await browse(`${metadata.authorization_endpoint}?client_id=tpp-one&request_uri=${encodeURIComponent(par.request_uri)}`), 200, 'authorization');
  const login = formOn(loginPage.body);
  const afterLogin = expect(await browse(login.action, { csrf: login.csrf, username: DEMO_USER.username, password: DEMO_USER.password, action: 'login' }), 303, 'login');
  const consentPage = expect(await browse(String(afterLogin.headers.location)), 200, 'consent page');
  show('page', /<h1>([^<]+)/.exec(consentPage.body)?.[1]);
  show('permissions', [...consentPage.body.matchAll(/<li>([^<]+)<\/li>/g)].map((m) => m[1]).join('; '));
  const accounts = [...consentPage.body.matchAll(/name="(account-\d+)" value="([^"]+)"/g)];
  show('accounts offered', accounts.map((m) => m[2]));
  const consent = formOn(consentPage.body);
  const approved = expect(await browse(consent.action, { csrf: consent.csrf, decision: 'approve', [accounts[0][1]]: accounts[0][2] }), 303, 'approval');
  const callback = new URL(String(approved.headers.location));
  show('chosen', accounts[0][2]);
  if (callback.searchParams.get('state') !== state) throw new Error('state mismatch');

  step(6, 'Tokens: PS256, bound to the certificate, carrying the consent');
  const tokens = json(
    expect(
      await send(endpoints.token_endpoint, {
        tls,
        form: { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: DEMO_REDIRECT_URI, code_verifier: verifier, ...(await assertion()) },
      }),
      200,
      'token',
    ),
  );
  const claims = decodeJwt(tokens.access_token);
  show('access_token', `${short(tokens.access_token)}, alg ${decodeProtectedHeader(tokens.access_token).alg}`);
  show('consent_id', claims.consent_id);
  show('expires_in', tokens.expires_in);
  show('refresh_token', short(tokens.refresh_token));
  show('id_token acr', decodeJwt(tokens.id_token).acr);
  const status = json(expect(await api(`${consents}/${encodeURIComponent(consentId)}`, 'GET', cc.access_token), 200, 'consent read'));
  show('consent status', status.data.status);

  step(7, "Userinfo and the bank's API with the consent's token");
  show('userinfo', json(expect(await sendJson(endpoints.userinfo_endpoint, 'GET', { authorization: `Bearer ${tokens.access_token}` }, tls), 200, 'userinfo')));
  const accountsReply = expect(await api(`${mtlsBase}${OFB_ACCOUNTS}`, 'GET', tokens.access_token), 200, 'accounts');
  show('GET', `${OFB_ACCOUNTS} → ${accountsReply.status}, x-v ${accountsReply.headers['x-v']}, x-fapi-interaction-id ${accountsReply.headers['x-fapi-interaction-id']}`);
  for (const account of json(accountsReply).data) show('account', `${account.accountId} (${account.type}), the one the customer chose`);
  const noInteractionId = await sendJson(`${mtlsBase}${OFB_ACCOUNTS}`, 'GET', { authorization: `Bearer ${tokens.access_token}` }, tls);
  show('no interaction id', `${noInteractionId.status} ${json(noInteractionId).errors[0].code}, a fresh x-fapi-interaction-id ${noInteractionId.headers['x-fapi-interaction-id']}`);

  step(8, `The TPP revokes the consent: DELETE ${new URL(consents).pathname}/{consentId}`);
  expect(await api(`${consents}/${encodeURIComponent(consentId)}`, 'DELETE', cc.access_token), 204, 'revocation');
  const after = json(expect(await api(`${consents}/${encodeURIComponent(consentId)}`, 'GET', cc.access_token), 200, 'consent read'));
  show('consent', `${after.data.status}, ${after.data.rejection.rejectedBy} ${after.data.rejection.reason.code}`);
  const refused = await api(`${mtlsBase}${OFB_ACCOUNTS}`, 'GET', tokens.access_token);
  show('access token', `${refused.status} ${json(refused).errors[0].code} at ${OFB_ACCOUNTS} (refused at once)`);
  const refresh = await send(endpoints.token_endpoint, { tls, form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await assertion()) } });
  show('refresh token', `${refresh.status} ${json(refresh).error}`);
  console.log('\nDone: consent, PAR with consent:, CPF-matched login, account choice, tokens, API calls, revocation, tokens refused.');
}

function sendJson(url: string, method: string, headers: Record<string, string>, tls: { ca: Buffer; cert: Buffer; key: Buffer }, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    import('node:https').then(({ request }) => {
      const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...tls }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    }, reject);
  });
}
