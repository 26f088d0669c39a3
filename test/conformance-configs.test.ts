// The conformance suite's configs (conformance/description.ts) cannot rot silently: the suite itself
// is not run in CI, so this generates the configs of every plan and variant into a temp folder and
// checks that each suite config has what its plan needs, that its clients are the gateway's clients
// (id, auth method, redirect URIs on the suite's callback for its alias, keys and certificates), and
// that the gateway config passes the gateway's own validation (as `fapi-gateway check` does).
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { createContext } from '../src/app.js';
import { loadConfigFile } from '../src/config/load.js';
import { parsePasswordHash, verifyPassword } from '../src/users/password.js';
import { writeConfigs, type WrittenConfigs } from '../conformance/configs.js';
import { callbackUrl, localEndpoints, PLANS, profileOf, publicJwks, subjectDn, suitePlanSpec, VARIANTS } from '../conformance/description.js';
import { ensurePki, pkiFiles } from '../conformance/pki.js';
import { outcomeTable, pageText, planIsGreen } from '../conformance/suite-api.js';

let dir: string;
let written: WrittenConfigs;
let gateway: Record<string, any>;
/** The gateway config of each profile the variants run on. */
const gateways: Record<string, Record<string, any>> = {};
t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-conformance-configs-'));
  written = await writeConfigs(path.join(dir, 'cfg'), await ensurePki(path.join(dir, 'pki')));
  gateway = parse(await readFile(written.gateway, 'utf8'));
  for (const [profile, file] of Object.entries(written.gateways)) gateways[profile] = parse(await readFile(file, 'utf8'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

const endpoints = localEndpoints();

t.test('every variant names a known plan, a unique alias and unique clients', async (t) => {
  t.equal(new Set(VARIANTS.map((v) => v.alias)).size, VARIANTS.length, 'aliases are unique');
  t.equal(new Set(VARIANTS.map((v) => v.name)).size, VARIANTS.length, 'names are unique');
  t.equal(new Set(VARIANTS.map((v) => v.clientPrefix)).size, VARIANTS.length, 'client prefixes are unique');
  for (const v of VARIANTS) {
    t.ok(PLANS[v.plan], `${v.name}: plan ${v.plan}`);
    if (v.plan === 'fapi1-advanced') {
      // FAPI 1.0 Advanced has no sender_constrain (always mTLS) and no openid variant; PAR is chosen (PLANS.md (e)).
      t.match(suitePlanSpec(v), /^fapi1-advanced-final-test-plan\[client_auth_type=private_key_jwt\]\[fapi_profile=(consumerdataright_au|openbanking_brazil)\]\[fapi_response_mode=(jarm|plain_response)\]\[fapi_auth_request_method=pushed\]$/);
      t.equal(v.suiteVariant.fapi_response_mode === 'jarm', v.suiteVariant.fapi_profile === 'consumerdataright_au', `${v.name}: JARM for CDR, the hybrid flow for Brazil`);
    } else t.match(suitePlanSpec(v), /^fapi2-(security-profile|message-signing)-final-test-plan\[client_auth_type=(private_key_jwt|mtls)\]\[sender_constrain=(mtls|dpop)\]/);
    t.equal(v.suiteVariant.sender_constrain === 'dpop', v.dpop === true, `${v.name}: DPoP clients exactly for sender_constrain=dpop`);
    if (v.plan === 'fapi2-message-signing') {
      // The MS plan has no default for these two: both must be chosen.
      t.ok(v.suiteVariant.fapi_request_method && v.suiteVariant.fapi_response_mode, `${v.name}: request method and response mode chosen`);
    }
  }
  for (const name of ['private_key_jwt', 'mtls']) t.ok(VARIANTS.some((v) => v.name === name), `the baseline ${name} variant is covered`);
  for (const auth of ['private_key_jwt', 'mtls'])
    t.ok(VARIANTS.some((v) => v.clientAuth === auth && v.suiteVariant.fapi_response_mode === 'jarm'), `JARM is covered with ${auth}`);
  // The SP plan's plain_fapi variants run on the baseline; an ecosystem's on its own profile.
  for (const v of VARIANTS.filter((v) => v.plan === 'fapi2-security-profile' && v.suiteVariant.fapi_profile === 'plain_fapi')) t.equal(profileOf(v), 'fapi2', `${v.name} runs on the baseline`);
  // FAPI 1.0 Advanced and FAPI 2.0 runs of an ecosystem share its one profile.
  for (const v of VARIANTS.filter((v) => v.suiteVariant.fapi_profile === 'openbanking_brazil')) t.equal(profileOf(v), 'brazil', `${v.name} runs on the brazil profile`);
  for (const v of VARIANTS.filter((v) => v.suiteVariant.fapi_profile === 'consumerdataright_au' && v.plan !== 'fapi2-security-profile'))
    t.equal(profileOf(v), 'cdr', `${v.name} runs on the cdr profile`);
});

for (const variant of VARIANTS) {
  t.test(`suite config ${variant.name} (${suitePlanSpec(variant)})`, async (t) => {
    const suite = JSON.parse(await readFile(written.suite[variant.name]!, 'utf8'));
    const files = pkiFiles(path.join(dir, 'pki'));
    const gateway = gateways[profileOf(variant)]!;
    // A derived profile (cdr-sp) is written as a file beside the configs.
    t.ok(gateway.profile === profileOf(variant) || gateway.profile.endsWith(`/${profileOf(variant)}.yaml`), 'the gateway config of the variant\'s profile');

    // Fields every FAPI2 SP plan reads (GetStaticClientConfiguration, the mTLS and resource steps).
    t.equal(suite.alias, variant.alias);
    t.equal(suite.server?.discoveryUrl, `${gateway.issuer}/.well-known/openid-configuration`, 'discovery of the gateway under test');
    // private_key_jwt with DPoP: the suite has no certificate and uses the plain endpoints, so the public listener.
    const withoutCertificate = variant.dpop && variant.clientAuth === 'private_key_jwt';
    t.equal(new URL(suite.resource?.resourceUrl).origin, withoutCertificate ? new URL(gateway.issuer).origin : new URL(gateway.listeners.mtls.url).origin, 'the resource is behind the listener the suite calls');
    t.ok(gateway.routes.some((r: { prefix: string }) => new URL(suite.resource.resourceUrl).pathname.startsWith(r.prefix)), 'the resource is one of the gateway\'s routes');
    if (withoutCertificate) t.equal(gateway.discovery?.plainEndpoints, 'public', 'discovery\'s plain fields name the listener the suite calls without a certificate');
    if (variant.brazil) {
      // The suite creates a consent before every authorization (OpenBankingBrazilPreAuthorizationSteps).
      t.equal(suite.resource.consentUrl, `${gateway.listeners.mtls.url}/open-banking/consents/v3/consents`, 'the Consents API on the mTLS listener');
      t.equal(suite.resource.brazilCpf, gateway.users[0].claims.cpf, "the consents name the test user's CPF");
      t.equal(suite.consent?.productType, variant.brazil.productType);
      t.match(gateway.ecosystem?.bankUrnPrefix, /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, 'a bank URN prefix');
      t.ok(gateway.clients.every((c: { scope: string }) => c.scope.split(' ').includes('consents')), 'the clients may ask for scope consents');
    }

    for (const [key, mtlsKey] of [['client', 'mtls'], ['client2', 'mtls2']] as const) {
      const client = suite[key];
      t.type(client?.client_id, 'string', `${key}.client_id`);
      t.equal(client.scope, variant.scope, `${key}.scope`);
      t.ok(client.jwks?.keys?.length, `${key}.jwks`);
      for (const jwk of client.jwks.keys) {
        if (jwk.use === 'enc') t.ok(variant.encryptionKeys && jwk.d && jwk.kid && jwk.alg === (variant.encryptionKeyAlg ?? 'RSA-OAEP-256'), `${key}.jwks: an RSA encryption key with a kid, where the variant wants one`);
        else t.ok(jwk.d && jwk.kid && jwk.alg === 'PS256', `${key}.jwks holds a private PS256 key with a kid`);
      }
      t.equal(client.jwks.keys[0].use, 'sig', `${key}.jwks: the signing key first`);
      // Certificates and keys for mutual TLS (sender_constrain=mtls needs them for every client auth method).
      const mtls = suite[mtlsKey];
      if (withoutCertificate) {
        t.notOk(mtls, `${mtlsKey}: no certificate offered with private_key_jwt and DPoP`);
        const registered = gateway.clients.find((c: { client_id: string }) => c.client_id === client.client_id);
        t.equal(registered?.token_endpoint_auth_method, 'private_key_jwt');
        t.equal(registered?.dpop_bound_access_tokens, true, 'registered dpop_bound_access_tokens');
        t.same(registered?.jwks, publicJwks(client.jwks));
        continue;
      }
      t.ok(mtls?.cert && mtls.key && mtls.ca, `${mtlsKey} has cert, key and ca`);
      const cert = new X509Certificate(mtls.cert);
      t.ok(cert.checkPrivateKey(createPrivateKey(mtls.key)), `${mtlsKey}.key is the certificate's key`);
      t.ok(cert.checkIssued(new X509Certificate(mtls.ca)), `${mtlsKey}.cert is issued by ${mtlsKey}.ca`);
      t.same(gateway.tls.clientCAs.map((f: string) => path.resolve(f)), [files.clientCa], 'the gateway trusts that CA for client certificates');

      // The suite's client is a gateway client with the same id, auth method, keys and redirect URIs.
      const registered = gateway.clients.find((c: { client_id: string }) => c.client_id === client.client_id);
      t.ok(registered, `${client.client_id} is registered at the gateway`);
      if (!registered) continue;
      t.equal(registered.token_endpoint_auth_method, variant.clientAuth === 'mtls' ? 'tls_client_auth' : 'private_key_jwt', 'auth method matches the variant');
      if (variant.clientAuth === 'mtls') t.equal(registered.tls_client_auth_subject_dn, subjectDn(mtls.cert), 'registered subject DN is the client certificate\'s');
      t.same(registered.jwks, publicJwks(client.jwks), 'registered keys are the public half of the suite client\'s keys');
      t.same(registered.jwks.keys.map((k: Record<string, unknown>) => createPublicKey({ key: k as any, format: 'jwk' }).export({ format: 'jwk' })),
        client.jwks.keys.map((k: Record<string, unknown>) => createPublicKey({ key: k as any, format: 'jwk' }).export({ format: 'jwk' })), 'the same key pairs');
      // The suite asks for client.scope (plus consent:<id> on Brazil); the gateway registers at least that.
      if (variant.clientScope) t.ok(client.scope.split(' ').every((s: string) => registered.scope.split(' ').includes(s)), 'registered scope covers what the suite asks for');
      else t.equal(registered.scope, client.scope, 'registered scope is the scope the suite asks for');
      t.same(registered.grant_types, variant.grantTypes);
      for (const [key, value] of Object.entries(variant.clientMetadata ?? {})) t.same(registered[key], value, `registered ${key}`);
      t.equal(registered.dpop_bound_access_tokens, variant.dpop ? true : undefined, 'dpop_bound_access_tokens exactly for DPoP variants');
      if (variant.browser) {
        const callback = callbackUrl(endpoints, variant.alias);
        t.same(registered.redirect_uris, [callback, `${callback}?dummy1=lorem&dummy2=ipsum`], 'redirect URIs are the suite\'s callback for the alias');
      }
    }
    t.not(suite.client.client_id, suite.client2.client_id, 'two distinct clients');

    if (variant.browser) {
      // The browser automation opens the gateway's authorization endpoint and ends on the suite's callback.
      t.ok(suite.browser?.length, 'browser automation');
      t.equal(suite.browser[0].match, `${gateway.issuer}/authorize*`);
      const tasks = suite.browser[0].tasks;
      const verify = tasks.find((x: { task: string }) => x.task === 'Verify Complete');
      t.equal(verify?.match, `${endpoints.suiteBase}/test/*/callback*`, 'completion is anchored on the suite\'s base URL');
      const login = tasks.find((x: { task: string }) => x.task === 'Login');
      const password = login.commands.find((c: unknown[]) => c[2] === 'password')?.[3];
      const user = gateway.users.find((u: { username: string }) => u.username === login.commands[0][3]);
      t.ok(user && (await verifyPassword(String(password), parsePasswordHash(user.passwordHash)!)), 'the browser logs in as a gateway user');
      for (const [module, override] of Object.entries<{ browser: unknown[] }>(suite.override ?? {})) {
        t.match(module, /^(fapi2-security-profile-final|fapi1-advanced-final)-/);
        t.ok(override.browser.length, `${module} has its own browser automation`);
      }
    } else {
      t.notOk(suite.browser, 'no browser for a grant without a user');
      t.notOk(suite.override, 'no browser overrides');
    }
  });
}

t.test('the gateway configs pass the gateway\'s own validation and offer what each variant needs', async (t) => {
  t.equal(written.gateways.fapi2, written.gateway, 'the baseline config is gateway.yaml');
  for (const [profile, file] of Object.entries(written.gateways)) {
    const context = await createContext(await loadConfigFile(file, {}));
    t.teardown(() => context.store.close());
    t.equal(context.profile.name, profile);
    for (const variant of VARIANTS.filter((v) => profileOf(v) === profile)) {
      for (const n of [1, 2]) t.ok(await context.clients.get(`${variant.clientPrefix}-${n}`), `${variant.clientPrefix}-${n} is known to the gateway on ${profile}`);
      // JARM: the suite sends response_mode=jwt (CheckDiscEndpointResponseModesSupportedContainsJwt).
      if (variant.suiteVariant.fapi_response_mode === 'jarm') t.ok(context.profile.responseModes.includes('jwt'), `${variant.name}: ${profile} offers response_mode=jwt`);
    }
  }
});

t.test('private keys stay out of the gateway config', async (t) => {
  const text = (await Promise.all(Object.values(written.gateways).map((f) => readFile(f, 'utf8')))).join('\n');
  t.notMatch(text, /"d"\s*:/, 'no private JWK member in the gateway config');
  t.notMatch(text, /PRIVATE KEY/, 'no PEM private key in the gateway config');
});

t.test('the results table: green only without FAILED, WARNING or INTERRUPTED; REVIEW rows say what the page showed', async (t) => {
  const row = (result: string, status = 'FINISHED') => ({ module: `fapi2-security-profile-final-${result}`, status, result, notes: [], pages: [] });
  t.ok(planIsGreen([row('PASSED'), row('REVIEW'), row('SKIPPED')]));
  for (const bad of [row('FAILED'), row('WARNING'), row('UNKNOWN', 'INTERRUPTED'), row('', 'NOT RUN')]) {
    t.notOk(planIsGreen([row('PASSED'), bad]), `${bad.status} ${bad.result} is not green`);
  }
  t.notOk(planIsGreen([]), 'an empty plan is not green');
  const page = '<html><head><title>Authorization error</title></head><body><main><h1>This request cannot be completed</h1><p>The request_uri has expired.</p><p>Error code: <code>invalid_request_uri</code></p></main></body></html>';
  t.equal(pageText(page), 'This request cannot be completed The request_uri has expired. Error code: invalid_request_uri');
  const table = outcomeTable('plan', [row('PASSED'), { ...row('REVIEW'), notes: ['REVIEW X: page showed "a | b"'] }]);
  t.match(table, /\| 2 \| REVIEW \| REVIEW \| REVIEW X: page showed "a \\\| b" \|/);
  t.match(table, /Totals: PASSED 1, REVIEW 1/);
});
