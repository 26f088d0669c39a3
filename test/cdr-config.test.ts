// Profile cdr at start: what a deployment may choose (bounded lifetimes within their ranges), what it
// may not (loosening, rotation, other client authentication), and the settings the CDR pack needs,
// each refused naming its key path.
import t from 'tap';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { testConfig, testPki } from './helpers/harness.js';
import { cdrConfig, PAIRWISE_SECRET } from './helpers/cdr.js';

async function cdr(edit: (config: Record<string, any>) => void = () => {}, env: Record<string, string> = {}) {
  const { pki, dir } = await testPki();
  const config = await testConfig(pki);
  await cdrConfig(config, pki);
  edit(config);
  const ctx = await createContext(await resolveConfig(config, dir, env));
  await ctx.hooks.stop?.();
  await ctx.store.close();
  return ctx;
}

async function refused(t: Tap, edit: (config: Record<string, any>) => void, keyPath: string | RegExp, why: string, env: Record<string, string> = {}) {
  try {
    await cdr(edit, env);
    t.fail(`${why}: accepted`);
  } catch (err) {
    t.ok(err instanceof ConfigError, `${why}: a ConfigError (${(err as Error).message})`);
    if (typeof keyPath === 'string') t.equal((err as ConfigError).keyPath, keyPath, why);
    else t.match((err as ConfigError).keyPath, keyPath, why);
  }
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('the defaults', async (t) => {
  const ctx = await cdr();
  t.equal(ctx.profile.lifetimes.requestUri, 90);
  t.equal(ctx.profile.lifetimes.accessToken, 300);
  t.equal(ctx.profile.refreshTokenRotation.enabled, false);
  t.same(ctx.profile.clientAuthMethods, ['private_key_jwt']);
});

t.test('bounded lifetimes: anywhere within their range, never outside', async (t) => {
  t.equal((await cdr((c) => (c.policy = { lifetimes: { accessToken: 600 } }))).profile.lifetimes.accessToken, 600, 'access tokens up to 10 minutes');
  t.equal((await cdr((c) => (c.policy = { lifetimes: { accessToken: 120, requestUri: 10 } }))).profile.lifetimes.requestUri, 10, 'and down to the minimum');
  await refused(t, (c) => (c.policy = { lifetimes: { accessToken: 119 } }), 'policy.lifetimes.accessToken', 'under 2 minutes');
  await refused(t, (c) => (c.policy = { lifetimes: { accessToken: 601 } }), 'policy.lifetimes.accessToken', 'over 10 minutes');
  await refused(t, (c) => (c.policy = { lifetimes: { requestUri: 9 } }), 'policy.lifetimes.requestUri', 'request_uri under 10 s');
  await refused(t, (c) => (c.policy = { lifetimes: { requestUri: 91 } }), 'policy.lifetimes.requestUri', 'request_uri over 90 s');
  t.equal((await cdr((c) => (c.policy = { bounds: { 'lifetimes.accessToken': { min: 200, max: 400 } } }))).profile.bounds?.['lifetimes.accessToken'].max, 400, 'a range may narrow');
  await refused(t, (c) => (c.policy = { bounds: { 'lifetimes.accessToken': { min: 60, max: 600 } } }), 'policy.bounds.lifetimes.accessToken', 'a range may not widen');
  await refused(t, (c) => (c.policy = { bounds: { 'lifetimes.accessToken': { min: 400, max: 600 } } }), 'policy.lifetimes.accessToken', 'the value must stay within a narrowed range');
  await refused(t, (c) => (c.policy = { bounds: { 'lifetimes.code': { min: 1, max: 600 } } }), 'policy.bounds.lifetimes.code', 'a range the profile has not');
});

t.test('what profile cdr does not allow', async (t) => {
  await refused(t, (c) => (c.policy = { refreshTokenRotation: { enabled: true, graceSeconds: 0 } }), 'policy.refreshTokenRotation.enabled', 'rotated refresh tokens');
  await refused(t, (c) => (c.policy = { idTokenUserClaims: true }), 'policy.idTokenUserClaims', 'personal information in ID tokens');
  await refused(t, (c) => (c.policy = { clientAssertion: { parAudience: ['issuer', 'endpoint'], audience: ['issuer'] } }), /^policy\.clientAssertion/, 'a PAR audience outside the audiences');
  await refused(t, (c) => Object.assign(c.clients[0], { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=x' }), 'clients[0].token_endpoint_auth_method', 'tls_client_auth');
  await refused(t, (c) => (c.clients[0].subject_type = 'public'), 'clients[0].subject_type', 'public subjects');
  await refused(t, (c) => c.clients[0].redirect_uris.push('https://elsewhere.localhost/cb'), 'clients[0].sector_identifier_uri', 'two redirect hosts without a sector');
  t.equal((await cdr((c) => {
    c.clients[0].redirect_uris.push('https://elsewhere.localhost/cb');
    c.clients[0].sector_identifier_uri = 'https://sector.localhost/uris.json';
  })).clients.cached('client-one')?.pairwiseSector, 'sector.localhost', 'a sector_identifier_uri gives the sector');
});

t.test('the pairwise secret: required, from the config or the environment', async (t) => {
  await refused(t, (c) => delete c.subjects, 'subjects.pairwiseSecret', 'no secret');
  await refused(t, (c) => (c.subjects = { pairwiseSecret: 'short' }), 'subjects.pairwiseSecret', 'a short secret');
  t.ok(await cdr((c) => delete c.subjects, { FAPI_GATEWAY_PAIRWISE_SECRET: PAIRWISE_SECRET }), 'FAPI_GATEWAY_PAIRWISE_SECRET');
});

t.test('the pack settings', async (t) => {
  await refused(t, (c) => (c.ecosystem.recipients.maxAttempts = 0), 'ecosystem.recipients.maxAttempts', 'maxAttempts');
  await refused(t, (c) => (c.ecosystem.recipients.allowPrivateAddresses = ['not-an-address']), /^ecosystem\.recipients\.allowPrivateAddresses/, 'an address block');
  await refused(t, (c) => (c.ecosystem.arrangements = { maxSharingDurationSeconds: 40_000_000 }), 'ecosystem.arrangements.maxSharingDurationSeconds', 'more than a year');
  await refused(t, (c) => (c.ecosystem.brandId = ''), 'ecosystem.brandId', 'an empty brand id');
  await refused(t, (c) => (c.ecosystem.arrangements = { maxTracked: 0 }), 'ecosystem.arrangements.maxTracked', 'no arrangement listed');
  await refused(t, (c) => (c.ecosystem.arrangements = { customerTypeClaim: '' }), 'ecosystem.arrangements.customerTypeClaim', 'an empty claim name');
});

t.test('profile fapi2 keeps its public subjects and its ID token claims', async (t) => {
  const { pki, dir } = await testPki();
  const ctx = await createContext(await resolveConfig(await testConfig(pki), dir, {}));
  await ctx.store.close();
  t.equal(ctx.profile.subjectTypes, undefined);
  t.equal(ctx.profile.idTokenUserClaims, undefined);
  t.equal(ctx.clients.cached('client-one')?.pairwiseSector, undefined);
  t.equal(ctx.subjects.forClient(ctx.clients.cached('client-one'), 'alice-7f3c'), 'alice-7f3c');
});
