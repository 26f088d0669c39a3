// The CDR data holder (profile: cdr) on its authorization side: sharing_duration and arrangements,
// amendments, token and introspection responses, CDR Arrangement Revocation, pairwise subjects,
// ID tokens without personal information (encrypted when the client registered it), discovery.
import t from 'tap';
import { compactDecrypt, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startGateway, type Harness } from './helpers/harness.js';
import { authorizeAt, userinfo } from './helpers/flow.js';
import { asClient, BRAND_ID, cdrConfig, cdrFlow, clientTwoEncryptionKey, DAY, pushCdr } from './helpers/cdr.js';
import { testPki } from './helpers/harness.js';

let h: Harness;
t.before(async () => {
  const { pki } = await testPki();
  h = await startGateway({ configure: (config) => cdrConfig(config, pki) });
});
t.teardown(() => h?.close());

const now = () => Math.floor(Date.now() / 1000);
const YEAR = 365 * DAY;

function refusedAtPar(t: Tap, res: { status: number; json: any; headers: Record<string, unknown>; text: string }, error: string, why: string) {
  t.equal(res.status, 400, `${why}: ${res.text}`);
  t.equal(res.json?.error, error, why);
  t.equal(res.headers['cache-control'], 'no-store');
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const introspect = (token: string, name: 'client-one' | 'client-two' = 'client-one', hint?: string) =>
  asClient(h, name, '/introspect', { token, ...(hint ? { token_type_hint: hint } : {}) });
const refresh = (token: string, name: 'client-one' | 'client-two' = 'client-one') => asClient(h, name, '/token', { grant_type: 'refresh_token', refresh_token: token });
const revokeArrangement = (id: string | undefined, name: 'client-one' | 'client-two' = 'client-one', options: { certificate?: boolean } = {}) =>
  asClient(h, name, '/arrangements/revoke', id === undefined ? {} : { cdr_arrangement_id: id }, options);

t.test('discovery: the CDS list', async (t) => {
  const m = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.equal(m.claims_parameter_supported, true);
  for (const claim of ['acr', 'sharing_duration', 'cdr_arrangement_id']) t.ok(m.claims_supported.includes(claim), `claims_supported has ${claim}`);
  t.same(m.acr_values_supported, ['urn:cds.au:cdr:2', 'urn:cds.au:cdr:3']);
  t.same(m.subject_types_supported, ['pairwise']);
  t.equal(m.cdr_arrangement_revocation_endpoint, `${h.mtlsBase}/arrangements/revoke`);
  t.same(m.token_endpoint_auth_methods_supported, ['private_key_jwt']);
  t.same(m.id_token_signing_alg_values_supported.filter((a: string) => a !== 'PS256' && a !== 'ES256'), []);
  t.ok(m.response_modes_supported.includes('jwt'), 'JARM offered');
  t.ok(m.authorization_signing_alg_values_supported.includes('PS256'));
  t.equal(m.require_pushed_authorization_requests, true);
  t.ok(m.mtls_endpoint_aliases.token_endpoint);
  t.ok(m.grant_types_supported.includes('authorization_code'));
  for (const scope of ['openid', 'profile', 'bank:accounts.basic:read', 'common:customer.basic:read', 'energy:billing:read', 'cdr:registration', 'admin:metrics.basic:read', 'admin:metadata:update'])
    t.ok(m.scopes_supported.includes(scope), `scopes_supported has ${scope}`);
  t.ok(m.id_token_encryption_alg_values_supported.includes('RSA-OAEP-256'));
  t.notOk('username' in m);
});

t.test('PAR refuses what the CDS refuses', async (t) => {
  refusedAtPar(t, (await pushCdr(h, 'client-one', { sharing_duration: -1 })).res, 'invalid_request', 'negative sharing_duration');
  refusedAtPar(t, (await pushCdr(h, 'client-one', { sharing_duration: 1.5 })).res, 'invalid_request', 'fractional sharing_duration');
  refusedAtPar(t, (await pushCdr(h, 'client-one', { sharing_duration: '3600' })).res, 'invalid_request', 'sharing_duration as text');
  refusedAtPar(t, (await pushCdr(h, 'client-one', { cdr_arrangement_id: 'no-such-arrangement' })).res, 'invalid_request', 'unknown cdr_arrangement_id');
  refusedAtPar(t, (await pushCdr(h, 'client-one', { cdr_arrangement_id: 42 })).res, 'invalid_request', 'cdr_arrangement_id not a string');
  refusedAtPar(t, (await pushCdr(h, 'client-one', undefined, { scope: 'openid cdr:registration' })).res, 'invalid_scope', 'a client-credentials-only scope');
  const unsigned = await asClient(h, 'client-one', '/par', { response_type: 'code', redirect_uri: 'https://recipient-one.localhost/callback', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
  refusedAtPar(t, unsigned, 'invalid_request', 'an unsigned request');
  const accepted = await pushCdr(h, 'client-one', { sharing_duration: 3600 });
  t.equal(accepted.res.status, 201, 'a valid one is accepted');
  t.ok(accepted.res.json.expires_in >= 10 && accepted.res.json.expires_in <= 90, `request_uri lifetime within 10–90 s (${accepted.res.json.expires_in})`);
});

t.test('client assertions: aud may be the issuer, the token endpoint or the endpoint called', async (t) => {
  for (const aud of [h.issuer, `${h.mtlsBase}/token`]) {
    const res = await asClient(h, 'client-one', '/token', { grant_type: 'client_credentials', scope: 'cdr:registration' }, { aud });
    t.equal(res.status, 200, `aud ${aud}: ${res.text}`);
  }
  const other = await asClient(h, 'client-one', '/token', { grant_type: 'client_credentials', scope: 'cdr:registration' }, { aud: 'https://elsewhere.example' });
  t.equal(other.status, 401);
  const atPar = await asClient(h, 'client-one', '/par', { request: 'x' }, { aud: `${h.mtlsBase}/token` });
  t.equal(atPar.status, 401, 'at PAR the issuer alone (FAPI 2.0)');
  t.equal(atPar.json.error, 'invalid_client');
});

t.test('client_credentials: the recipient\'s own scopes only, never a customer\'s data', async (t) => {
  const data = await asClient(h, 'client-one', '/token', { grant_type: 'client_credentials', scope: 'bank:accounts.basic:read' });
  t.equal(data.status, 400, data.text);
  t.equal(data.json.error, 'invalid_scope');
  const unasked = await asClient(h, 'client-one', '/token', { grant_type: 'client_credentials' });
  t.equal(unasked.status, 200, unasked.text);
  t.equal(unasked.json.scope, 'cdr:registration', 'without a scope: the client-credentials scopes of the client');
  t.notOk(unasked.json.cdr_arrangement_id, 'no arrangement');
  t.notOk(unasked.json.refresh_token);
});

t.test('a sharing arrangement: tokens with cdr_arrangement_id, refresh token until the end of the sharing, CDS introspection', async (t) => {
  const duration = 90 * DAY;
  const { tokens } = await cdrFlow(h, 'client-one', { sharing_duration: duration, id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:2' }, name: null, email: null } });
  t.ok(tokens, 'tokens issued');
  const id = tokens!.cdr_arrangement_id;
  t.match(id, /^[0-9a-f-]{36}$/, 'the token response carries cdr_arrangement_id');
  t.type(tokens!.refresh_token, 'string', 'a refresh token for a sharing duration');
  t.ok(tokens!.expires_in >= 120 && tokens!.expires_in <= 600, 'access token 2–10 minutes');

  const idToken = decodeJwt(tokens!.id_token);
  t.equal(idToken.acr, 'urn:cds.au:cdr:2', 'acr as requested and reached');
  t.notOk('name' in idToken || 'email' in idToken, 'no personal information in the ID token, even when asked');
  t.not(idToken.sub, 'alice-7f3c', 'the sub is pairwise, not the customer id');
  t.match(idToken.sub, /^[A-Za-z0-9_-]{43}$/);

  const active = await introspect(tokens!.refresh_token, 'client-one', 'refresh_token');
  t.equal(active.status, 200);
  t.equal(active.json.active, true);
  t.equal(active.json.cdr_arrangement_id, id);
  t.equal(active.json.scope, tokens!.scope);
  t.ok(Math.abs(active.json.exp - (now() + duration)) <= 5, `exp is the end of the sharing duration (${active.json.exp - now()} s)`);
  t.notOk('username' in active.json, 'no username');
  t.equal(active.json.sub, idToken.sub, 'the same pairwise sub');
  const accessIntrospected = await introspect(tokens!.access_token);
  t.same(accessIntrospected.json, { active: false }, 'an access token introspects as inactive');

  const refreshed = await refresh(tokens!.refresh_token);
  t.equal(refreshed.status, 200, refreshed.text);
  t.equal(refreshed.json.cdr_arrangement_id, id, 'the refresh response carries cdr_arrangement_id');
  t.notOk(refreshed.json.refresh_token, 'refresh tokens are not rotated');
  t.equal((await refresh(tokens!.refresh_token)).status, 200, 'the same refresh token keeps working');

  const info = await userinfo(h, refreshed.json.access_token);
  t.equal(info.status, 200);
  t.equal(info.json.sub, idToken.sub, 'userinfo gives the same pairwise sub');
});

t.test('sharing_duration 0 or absent: one access token and no refresh token; longer than a year: a year', async (t) => {
  for (const claims of [{ sharing_duration: 0 }, undefined, { id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:2' } } }]) {
    const { tokens } = await cdrFlow(h, 'client-one', claims);
    t.type(tokens!.cdr_arrangement_id, 'string', 'an arrangement all the same');
    t.notOk(tokens!.refresh_token, `no refresh token (${JSON.stringify(claims)})`);
  }
  const short = await cdrFlow(h, 'client-one', { sharing_duration: 3600 });
  t.type(short.tokens!.refresh_token, 'string', 'up to 24 hours still gets a refresh token');
  const long = await cdrFlow(h, 'client-one', { sharing_duration: 3 * YEAR });
  const introspected = await introspect(long.tokens!.refresh_token, 'client-one', 'refresh_token');
  t.ok(Math.abs(introspected.json.exp - (now() + YEAR)) <= 5, 'cut to one year');
});

t.test('amending an arrangement keeps its id and ends its earlier tokens', async (t) => {
  const first = await cdrFlow(h, 'client-one', { sharing_duration: 30 * DAY });
  const id = first.tokens!.cdr_arrangement_id;
  const second = await cdrFlow(h, 'client-one', { sharing_duration: 60 * DAY, cdr_arrangement_id: id });
  t.equal(second.tokens!.cdr_arrangement_id, id, 'the same arrangement id');
  const old = await refresh(first.tokens!.refresh_token);
  t.equal(old.status, 400, 'the old refresh token is refused');
  t.equal(old.json.error, 'invalid_grant');
  t.equal((await userinfo(h, first.tokens!.access_token)).status, 401, 'the old access token is refused');
  t.equal((await refresh(second.tokens!.refresh_token)).status, 200, 'the new refresh token works');
  const introspected = await introspect(second.tokens!.refresh_token, 'client-one', 'refresh_token');
  t.ok(Math.abs(introspected.json.exp - (now() + 60 * DAY)) <= 5, 'the amended sharing duration');

  refusedAtPar(t, (await pushCdr(h, 'client-two', { sharing_duration: DAY, cdr_arrangement_id: id })).res, 'invalid_request', "another client's arrangement");

  const { res, pushed } = await pushCdr(h, 'client-one', { sharing_duration: DAY, cdr_arrangement_id: id });
  t.equal(res.status, 201);
  const redirect = await authorizeAt(h, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: pushed.requestUri })}`, { username: 'bob', password: 'builder-pw' });
  t.equal(redirect.searchParams.get('error'), 'access_denied', "another customer's arrangement is refused at authorization");
  t.equal((await refresh(second.tokens!.refresh_token)).status, 200, 'and the arrangement is untouched');
});

t.test('CDR Arrangement Revocation: 204 ends every token; 422 for what is not a current arrangement of the caller', async (t) => {
  const { tokens } = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  const id = tokens!.cdr_arrangement_id;

  const invalid = (res: { status: number; json: any; headers: Record<string, unknown> }, why: string) => {
    t.equal(res.status, 422, why);
    t.same(res.json?.errors?.map((e: { code: string }) => e.code), ['urn:au-cds:error:cds-all:Authorisation/InvalidArrangement'], why);
    t.type(res.json?.errors?.[0]?.title, 'string');
    t.type(res.json?.errors?.[0]?.detail, 'string');
  };
  invalid(await revokeArrangement('no-such-arrangement'), 'unknown');
  invalid(await revokeArrangement(undefined), 'missing');
  invalid(await revokeArrangement(id, 'client-two'), "another client's");
  const noCertificate = await revokeArrangement(id, 'client-one', { certificate: false });
  t.equal(noCertificate.status, 401, 'mTLS required');
  const unauthenticated = await h.post('/arrangements/revoke', { cdr_arrangement_id: id, client_id: 'client-one' }, { client: 'client-one' });
  t.equal(unauthenticated.status, 401, 'client authentication required');
  t.equal((await h.get(`${h.mtlsBase}/arrangements/revoke`, { client: 'client-one' })).status, 405);

  t.equal((await userinfo(h, tokens!.access_token)).status, 200, 'the token works before');
  const revoked = await revokeArrangement(id);
  t.equal(revoked.status, 204, revoked.text);
  t.equal((await userinfo(h, tokens!.access_token)).status, 401, 'the access token is refused');
  t.equal((await refresh(tokens!.refresh_token)).status, 400, 'the refresh token is refused');
  t.same((await introspect(tokens!.refresh_token)).json, { active: false }, 'and introspects as inactive');
  invalid(await revokeArrangement(id), 'already revoked');
  refusedAtPar(t, (await pushCdr(h, 'client-one', { cdr_arrangement_id: id })).res, 'invalid_request', 'a revoked arrangement cannot be amended');
  t.ok(h.logs.some((l) => l.includes('"audit":"arrangement_revoked"')), 'audited');
  const metrics = await (await fetch(`http://127.0.0.1:${h.gateway.context.config.listeners.ops.port}/metrics`)).text();
  t.match(metrics, /fapi_gateway_cdr_arrangement_revocations_total\{initiator="recipient",outcome="revoked"\} 1/);
});

t.test('pairwise subjects: stable per sector, different across sectors; ID tokens encrypted only when registered', async (t) => {
  const a = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  const b = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  t.equal(decodeJwt(a.tokens!.id_token).sub, decodeJwt(b.tokens!.id_token).sub, 'the same sub for the same sector');
  t.equal(decodeProtectedHeader(a.tokens!.id_token).alg, 'PS256', 'client one registered no encryption: a signed ID token');

  const two = await cdrFlow(h, 'client-two', { sharing_duration: DAY });
  const header = decodeProtectedHeader(two.tokens!.id_token);
  t.equal(header.alg, 'RSA-OAEP-256');
  t.equal(header.enc, 'A256GCM');
  t.equal(header.kid, 'client-two-enc', 'the JWE header names the client key');
  const { plaintext } = await compactDecrypt(two.tokens!.id_token, (await clientTwoEncryptionKey()).privateKey);
  const jwks = (await h.get(`${h.issuer}/jwks`)).json;
  const { payload } = await jwtVerify(new TextDecoder().decode(plaintext), createLocalJWKSet(jwks), { issuer: h.issuer, audience: 'client-two' });
  t.not(payload.sub, decodeJwt(a.tokens!.id_token).sub, 'another sector, another sub');
  t.not(payload.sub, 'alice-7f3c');
});

t.test('JARM is offered and used when asked (signed PS256), never forced', async (t) => {
  const { res, pushed } = await pushCdr(h, 'client-one', { sharing_duration: DAY }, { response_mode: 'jwt' });
  t.equal(res.status, 201, res.text);
  const redirect = await authorizeAt(h, `/authorize?${new URLSearchParams({ client_id: 'client-one', request_uri: pushed.requestUri })}`);
  t.same([...redirect.searchParams.keys()], ['response'], 'a JARM response');
  const response = redirect.searchParams.get('response')!;
  t.equal(decodeProtectedHeader(response).alg, 'PS256', 'signed PS256 by default');
  const jwks = (await h.get(`${h.issuer}/jwks`)).json;
  const { payload } = await jwtVerify(response, createLocalJWKSet(jwks), { issuer: h.issuer, audience: 'client-one' });
  t.type(payload.code, 'string');
  const plain = await cdrFlow(h, 'client-one', { sharing_duration: DAY });
  t.ok(plain.redirect.searchParams.get('code'), 'a plain response when JARM is not asked for');
});

t.test('the brand id setting is kept for outbound notices', async (t) => {
  t.equal(h.gateway.context.config.ecosystem?.brandId, BRAND_ID);
});

t.test('the consent page says how long the arrangement lasts: the sharing duration asked for, or once-off', async (t) => {
  const seen: string[] = [];
  const onConsentPage = (html: string) => void seen.push(html);
  await cdrFlow(h, 'client-one', { sharing_duration: 30 * DAY }, { onConsentPage });
  const end = new Intl.DateTimeFormat('en-AU', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date((now() + 30 * DAY) * 1000));
  const until = /Until ([^,<]+), unless you withdraw it sooner/.exec(seen[0] ?? '');
  t.ok(until, 'the page gives an end date');
  const shown = Date.parse(`${until?.[1]} UTC`);
  t.ok(Math.abs(shown / 1000 - (now() + 30 * DAY)) <= 2 * DAY, `the end is the sharing duration's (${until?.[1]}; about ${end})`);
  await cdrFlow(h, 'client-one', { sharing_duration: 0 }, { onConsentPage });
  t.match(seen[1], /Once only/, 'sharing_duration 0: once-off');
  await cdrFlow(h, 'client-one', undefined, { onConsentPage });
  t.match(seen[2], /Once only/, 'no sharing_duration: once-off');
});
