import t from 'tap';
import { composeHooks } from '../src/ecosystems/compose.js';
import { statusAt, parseOfbDateTime, ofbDateTime, AWAITING_SECONDS, type ConsentRecord } from '../src/ecosystems/brazil/consents/consent.js';
import { checkPermissions } from '../src/ecosystems/brazil/consents/permissions.js';
import { resolveConfig } from '../src/config/load.js';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { testConfig, testPki } from './helpers/harness.js';
import { brazilConfig, ps256Keys } from './helpers/brazil.js';

t.test('composeHooks: in order, objects merged, yes wins, details put together, stop in reverse', async (t) => {
  const calls: string[] = [];
  const hooks = composeHooks(
    {
      accessTokenClaims: () => ({ a: 1, shared: 'first' }),
      isDynamicScope: () => false,
      refreshTokenLifetime: () => 10,
      onLogin: async () => void calls.push('login-1'),
      consentDetails: () => ({ items: [{ label: { en: 'one' } }] }),
      stop: () => void calls.push('stop-1'),
    },
    {
      accessTokenClaims: () => ({ b: 2, shared: 'second' }),
      isDynamicScope: (s) => s.startsWith('consent:'),
      refreshTokenLifetime: () => 20,
      onLogin: () => void calls.push('login-2'),
      consentDetails: async () => ({ items: [{ label: { en: 'two' } }], accounts: [{ id: 'x', label: 'X' }] }),
      stop: () => void calls.push('stop-2'),
    },
  );
  const claims = hooks.accessTokenClaims!({} as never);
  t.same(claims, { a: 1, b: 2, shared: 'second' }, 'merged synchronously');
  t.equal(hooks.isDynamicScope!('consent:x'), true);
  t.equal(hooks.isDynamicScope!('accounts'), false);
  t.equal(hooks.refreshTokenLifetime!({} as never, 5), 10, 'the first answer decides');
  await hooks.onLogin!({} as never);
  t.same(calls, ['login-1', 'login-2']);
  t.same(await hooks.consentDetails!({} as never), { items: [{ label: { en: 'one' } }, { label: { en: 'two' } }], accounts: [{ id: 'x', label: 'X' }] });
  await hooks.stop!();
  t.same(calls.slice(2), ['stop-2', 'stop-1']);
  t.same(Object.keys(composeHooks({}, {})), [], 'no hook when no part has it');

  const committed: string[] = [];
  const commits = composeHooks(
    { onGrantCreated: async () => async () => void committed.push('one') },
    { onGrantCreated: () => undefined },
    { onGrantCreated: () => async () => void committed.push('three') },
  );
  const commit = await commits.onGrantCreated!({} as never);
  t.type(commit, 'function', "the parts' commits as one");
  t.same(committed, [], 'nothing written before the core sends the commit');
  await (commit as () => Promise<void>)();
  t.same(committed.sort(), ['one', 'three'], 'every part\'s commit runs');
});

t.test('consent status by time', async (t) => {
  const record: ConsentRecord = { id: 'urn:b:1', clientId: 'c', loggedUser: { identification: '1', rel: 'CPF' }, permissions: [], createdAt: 1000, expiresAt: 100_000 };
  t.equal(statusAt({ record }, 1000 + AWAITING_SECONDS - 1).status, 'AWAITING_AUTHORISATION');
  const expired = statusAt({ record }, 1000 + AWAITING_SECONDS);
  t.equal(expired.status, 'REJECTED', 'unauthorised for 60 minutes');
  t.same(expired.due, { at: 1000 + AWAITING_SECONDS, rejectedBy: 'ASPSP', reason: 'CONSENT_EXPIRED' });
  const authorised = { record, authorised: { at: 2000, grantId: 'g', accountIds: [] } };
  t.equal(statusAt(authorised, 99_999).status, 'AUTHORISED');
  t.same(statusAt(authorised, 100_000).due, { at: 100_000, rejectedBy: 'ASPSP', reason: 'CONSENT_MAX_DATE_REACHED' }, 'past its end date');
  const ended = { ...authorised, ended: { at: 3000, rejectedBy: 'USER' as const, reason: 'CUSTOMER_MANUALLY_REVOKED' as const } };
  t.same(statusAt(ended, 200_000), { status: 'REJECTED', updatedAt: 3000, rejection: ended.ended }, 'the first ending stays');
});

t.test('OFB date-times', async (t) => {
  t.equal(parseOfbDateTime('2026-12-02T10:00:00Z'), Date.UTC(2026, 11, 2, 10) / 1000);
  for (const bad of ['2026-12-02T10:00:00.000Z', '2026-12-02T10:00:00+00:00', '2026-02-30T10:00:00Z', '2026-12-02 10:00:00Z', '']) t.equal(parseOfbDateTime(bad), undefined, bad);
  t.equal(ofbDateTime(0), '1970-01-01T00:00:00Z');
});

t.test('permissions: whole groups, repeats dropped', async (t) => {
  t.same(checkPermissions(['ACCOUNTS_READ', 'RESOURCES_READ', 'ACCOUNTS_BALANCES_READ', 'ACCOUNTS_READ'], { businessEntity: false, products: ['accounts'] }), { permissions: ['ACCOUNTS_READ', 'RESOURCES_READ', 'ACCOUNTS_BALANCES_READ'] });
  t.match(checkPermissions(['CREDIT_CARDS_ACCOUNTS_BILLS_READ', 'CREDIT_CARDS_ACCOUNTS_READ', 'RESOURCES_READ'], { businessEntity: false, products: ['credit-cards-accounts'] }), { problem: { code: 'COMBINACAO_PERMISSOES_INCORRETA' } });
});

t.test('config: what the profile and the pack refuse at start', async (t) => {
  const { dir, pki } = await testPki();
  const serverKeys = await ps256Keys();
  const attempt = async (change: (config: Record<string, any>) => void) => {
    const config = await testConfig(pki);
    brazilConfig(config, serverKeys);
    change(config);
    try {
      const ctx = await createContext(await resolveConfig(config, dir, {}));
      await ctx.store.close();
      return undefined;
    } catch (err) {
      if (err instanceof ConfigError) return err.keyPath;
      throw err;
    }
  };
  t.equal(await attempt(() => undefined), undefined, 'the test config starts');
  t.equal(await attempt((c) => delete c.ecosystem), 'ecosystem.bankUrnPrefix');
  t.equal(await attempt((c) => void (c.ecosystem.bankUrnPrefix = 'has:colon')), 'ecosystem.bankUrnPrefix');
  t.equal(await attempt((c) => void (c.ecosystem.consents = { products: ['cars'] })), 'ecosystem.consents.products[0]');
  t.equal(await attempt((c) => void (c.policy = { lifetimes: { accessToken: 200 } })), 'policy.lifetimes.accessToken');
  t.equal(await attempt((c) => void (c.policy = { refreshTokenRotation: { enabled: true } })), 'policy.refreshTokenRotation.enabled');
  t.equal(await attempt((c) => void (c.policy = { tls: { renegotiation: true } })), 'policy.tls.renegotiation');
  t.equal(await attempt((c) => void (c.policy = { tls: { tls12CipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] } })), 'policy.tls.tls12CipherSuites');
  t.equal(await attempt((c) => void (c.policy = { publicBackChannel: true })), 'policy.publicBackChannel');
  t.equal(await attempt((c) => void (c.discovery = { plainEndpoints: 'public' })), 'discovery.plainEndpoints');
  t.equal(await attempt((c) => void (c.clients[1].token_endpoint_auth_method = 'tls_client_auth')), 'clients[1].token_endpoint_auth_method');
  t.equal(await attempt((c) => void (c.policy = { lifetimes: { accessToken: 600 } })), undefined, 'a shorter access token within 300–900 is fine');
  t.equal(await attempt((c) => void (c.ecosystem.payments = { organisationId: 'org-1' })), undefined, 'payments on');
  t.equal(await attempt((c) => void (c.ecosystem.payments = {})), 'ecosystem.payments.organisationId');
  t.equal(await attempt((c) => void (c.ecosystem.payments = { organisationId: 'org-1', maxBodyBytes: 10 })), 'ecosystem.payments.maxBodyBytes');
  t.equal(await attempt((c) => void (c.ecosystem.payments = { organisationId: 'org-1', extra: true })), 'ecosystem.payments.extra');
  t.equal(await attempt((c) => void (c.ecosystem.directory = { issuer: 'dir' })), 'ecosystem.directory');
  t.equal(await attempt((c) => void (c.ecosystem.directory = { issuer: 'dir', jwksUri: 'http://plain.example/jwks' })), 'ecosystem.directory.jwksUri');
});
