/**
 * The CDR registration part's pure pieces: the Register status lists as they come (v1 named arrays,
 * v2/v3 `data`), what they mean for a software product, the CDS version negotiation, the tier a
 * request is counted in, the settings' refusals.
 */
import t from 'tap';
import type { FastifyRequest } from 'fastify';
import { emptyStatuses, parseDataRecipients, parseSoftwareProducts, standingOf } from '../src/ecosystems/cdr/register/statuses.js';
import { registerSettings } from '../src/ecosystems/cdr/register/settings.js';
import { negotiateVersion } from '../src/ecosystems/cdr/admin/cds-errors.js';
import { ServiceLedger, tierOf } from '../src/ecosystems/cdr/admin/service-ledger.js';
import { metricsPayload } from '../src/ecosystems/cdr/admin/metrics-payload.js';
import { authorisationCounts } from '../src/ecosystems/cdr/admin/authorisation-counts.js';
import { Arrangements, REPORTING_SECONDS, type Arrangement } from '../src/ecosystems/cdr/arrangements/arrangements.js';
import { MemoryStore } from '../src/store/memory.js';
import { Grants } from '../src/grants/grant.js';

t.test('status lists: v3 data, v1 named arrays, anything else refused', async (t) => {
  t.same(parseSoftwareProducts({ data: [{ softwareProductId: 'a', status: 'active' }] }), { a: 'ACTIVE' });
  t.same(parseSoftwareProducts({ softwareProducts: [{ softwareProductId: 'a', softwareProductStatus: 'INACTIVE' }] }), { a: 'INACTIVE' });
  t.same(parseDataRecipients({ data: [{ legalEntityId: 'le', status: 'SUSPENDED' }] }), { le: 'SUSPENDED' });
  t.same(parseDataRecipients({ dataRecipients: [{ dataRecipientId: 'le', dataRecipientStatus: 'ACTIVE' }] }), { le: 'ACTIVE' });
  t.equal(parseSoftwareProducts({ data: [{ softwareProductId: 1, status: 'ACTIVE' }] }), undefined, 'an id that is not a string');
  t.equal(parseSoftwareProducts({ data: 'x' }), undefined);
  t.equal(parseSoftwareProducts(null), undefined);
  t.equal(parseDataRecipients({ data: [null] }), undefined);
});

t.test("a product's standing: the worse of its own status and its recipient's", async (t) => {
  const s = emptyStatuses();
  s.softwareProducts = { active: 'ACTIVE', inactive: 'INACTIVE', removed: 'REMOVED' };
  s.dataRecipients = { ok: 'ACTIVE', suspended: 'SUSPENDED', revoked: 'REVOKED', surrendered: 'SURRENDERED' };
  t.equal(standingOf(s, 'active', 'ok'), 'ACTIVE');
  t.equal(standingOf(s, 'inactive', 'ok'), 'INACTIVE');
  t.equal(standingOf(s, 'removed', 'ok'), 'REMOVED');
  t.equal(standingOf(s, 'active', 'suspended'), 'INACTIVE');
  t.equal(standingOf(s, 'active', 'revoked'), 'REMOVED');
  t.equal(standingOf(s, 'inactive', 'surrendered'), 'REMOVED');
  t.equal(standingOf(s, 'unlisted', undefined), 'ACTIVE', 'not listed: as when its statement was accepted');
  t.equal(standingOf(s, undefined, undefined), 'ACTIVE');
});

t.test('CDS version negotiation', async (t) => {
  t.equal(negotiateVersion({ 'x-v': '5' }, [5]), 5);
  t.equal(negotiateVersion({ 'x-v': '7', 'x-min-v': '2' }, [4, 5]), 5, 'the highest served between x-min-v and x-v');
  t.equal(negotiateVersion({ 'x-v': '5', 'x-min-v': '9' }, [5]), 5, 'x-min-v above x-v counts as absent');
  t.throws(() => negotiateVersion({}, [5]), { status: 400, code: 'urn:au-cds:error:cds-all:Header/Missing' });
  t.throws(() => negotiateVersion({ 'x-v': '0' }, [5]), { status: 400, code: 'urn:au-cds:error:cds-all:Header/InvalidVersion' });
  t.throws(() => negotiateVersion({ 'x-v': '5', 'x-min-v': 'x' }, [5]), { status: 400, code: 'urn:au-cds:error:cds-all:Header/InvalidVersion' });
  t.throws(() => negotiateVersion({ 'x-v': '6' }, [5]), { status: 406, code: 'urn:au-cds:error:cds-all:Header/UnsupportedVersion' });
});

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers }) as unknown as FastifyRequest;

t.test('the tier a call is counted in', async (t) => {
  t.equal(tierOf('/.well-known/openid-configuration', req('/.well-known/openid-configuration')), 'unauthenticated');
  t.equal(tierOf('/cds-au/v1/banking/products', req('/cds-au/v1/banking/products')), 'unauthenticated');
  t.equal(tierOf('/token', req('/token')), 'highPriority');
  t.equal(tierOf('/register/:clientId', req('/register/x')), 'highPriority');
  t.equal(tierOf('/cds-au/v1/banking/*', req('/cds-au/v1/banking/accounts')), 'unattended', 'no customer present');
  t.equal(tierOf('/cds-au/v1/banking/*', req('/cds-au/v1/banking/accounts', { 'x-fapi-customer-ip-address': '192.0.2.1' })), 'lowPriority');
  t.equal(tierOf('/cds-au/v1/banking/*', req('/cds-au/v1/banking/accounts/balances', { 'x-fapi-customer-ip-address': '192.0.2.1' })), 'largePayload');
  t.equal(tierOf('/cds-au/v1/admin/metrics', req('/cds-au/v1/admin/metrics')), undefined, "the Register's own calls are not counted");
  t.equal(tierOf('unmatched', req('/nothing')), undefined);
});

t.test('the metrics ledger counts by UTC day and keeps seven previous days', async (t) => {
  let now = Date.parse('2026-03-01T10:00:00Z');
  const ledger = new ServiceLedger(() => now);
  ledger.record('/token', req('/token'), 200, 0.2);
  ledger.record('/token', req('/token'), 200, 2);
  ledger.record('/token', req('/token'), 503, 0.1);
  ledger.record('/jwks', req('/jwks'), 429, 0.1);
  const none = await authorisationCounts(new Arrangements(new MemoryStore(), new Grants(new MemoryStore(), LIFETIMES), 10), now);
  let payload = metricsPayload(ledger, none, 'ALL', 'https://x/metrics', now).data as any;
  t.equal(payload.invocations.highPriority.currentDay, 3);
  t.equal(payload.sessionCount.currentDay, 2);
  t.equal(payload.performance.highPriority.currentDay.length, 11, 'hours so far today');
  t.equal(payload.performance.highPriority.currentDay[10], (2 / 3).toFixed(4), 'the share within 1 s');
  t.same(payload.errors.authenticated.currentDay, { 503: 1 });
  t.equal(payload.errors.aggregate.currentDay, 1);
  t.equal(payload.rejections.unauthenticated.currentDay, 1);
  t.equal(payload.peakTps.authenticated.currentDay, 3);
  t.equal(payload.averageResponse.highPriority.currentDay, 0.767);
  t.same(payload.invocations.highPriority.previousDays, []);
  for (let day = 1; day <= 9; day++) {
    now += 86_400_000;
    ledger.record('/token', req('/token'), 200, 0.1);
  }
  payload = metricsPayload(ledger, none, 'HISTORIC', 'https://x/metrics', now).data as any;
  t.equal(payload.invocations.highPriority.previousDays.length, 7, 'seven previous days at most');
  t.notOk('currentDay' in payload.invocations.highPriority);
  t.equal(payload.performance.highPriority.previousDays[0].length, 24, 'a previous day has 24 hours');
});

const LIFETIMES = { accessToken: 300, code: 60, maxSeconds: 31_536_000, refreshToken: () => 0 };

t.test('authorisation counts: from the arrangement records, by UTC day, customer type and duration', async (t) => {
  const store = new MemoryStore();
  const grants = new Grants(store, LIFETIMES);
  const arrangements = new Arrangements(store, grants, 100);
  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  const startOfToday = Math.floor(nowMs / 86_400_000) * 86_400;
  const yesterday = startOfToday - 3600;
  const base = (id: string, extra: Partial<Arrangement> = {}): Arrangement => ({
    id, clientId: 'c1', softwareId: 'sw1', sub: `customer-${id}`, grantId: `g-${id}`, createdAt: now, expiresAt: now + 86_400, sharingDurationSeconds: 86_400, ...extra,
  });
  await arrangements.save(base('ongoing-person', { customerType: 'individual' }));
  await arrangements.save(base('ongoing-company', { customerType: 'nonIndividual', clientId: 'c2', softwareId: 'sw2', sub: 'customer-ongoing-person' }));
  await arrangements.save(base('once-off', { sharingDurationSeconds: 0, expiresAt: now + 400 }));
  await arrangements.save(base('amended', { createdAt: yesterday, amendedAt: [now - 10] }));
  await arrangements.save(base('expired', { createdAt: yesterday - 86_400, expiresAt: now - 1 }));
  await arrangements.save(base('to-revoke', { createdAt: yesterday, customerType: 'nonIndividual' }));
  t.ok(await arrangements.end('to-revoke', 'customer'), 'ended once');
  t.equal(await arrangements.end('to-revoke', 'recipient'), undefined, 'not twice');
  t.ok(await store.anyExists([['grant-ended', 'g-to-revoke']]), 'its grant ended');
  t.same(await arrangements.current('to-revoke'), undefined, 'no longer current');
  t.match(await arrangements.get('to-revoke'), { endedBy: 'customer' }, 'but kept for the counts');

  const counts = await authorisationCounts(arrangements, nowMs);
  t.same(counts.active, { individual: 2, nonIndividual: 1 }, 'current ongoing ones');
  t.equal(counts.customers, 3, 'distinct customers with a current arrangement (once-off included)');
  t.equal(counts.recipients, 2, 'distinct software products');
  t.same(counts.days[0].newOngoing, { individual: 1, nonIndividual: 1 });
  t.same(counts.days[0].newOnceOff, { individual: 1, nonIndividual: 0 });
  t.same(counts.days[0].amended, { individual: 1, nonIndividual: 0 });
  t.same(counts.days[0].revoked, { individual: 0, nonIndividual: 1 });
  t.same(counts.days[0].expired, { individual: 1, nonIndividual: 0 });
  t.same(counts.days[1].newOngoing, { individual: 1, nonIndividual: 1 }, 'yesterday');
  t.same(counts.days[2].newOngoing, { individual: 1, nonIndividual: 0 }, 'the day before');
  t.equal(counts.days.length, 8, 'today and seven days before');

  const ledger = new ServiceLedger(() => nowMs);
  const payload = metricsPayload(ledger, counts, 'ALL', 'https://x/metrics', nowMs).data as any;
  t.equal(payload.customerCount, 3);
  t.equal(payload.recipientCount, 2);
  t.same(payload.authorisations.activeAuthorisationCount, { individual: 2, nonIndividual: 1 });
  t.same(payload.authorisations.newAuthorisationCount.currentDay, { onceOff: { individual: 1, nonIndividual: 0 }, ongoing: { individual: 1, nonIndividual: 1 } });
  t.equal(payload.authorisations.revokedAuthorisationCount.previousDays.length, 7);
  t.same(payload.authorisations.abandonedConsentFlowCount, {}, 'not counted: the conditional members left out');
  t.same(Object.keys(payload.authorisations.abandonmentsByStage).sort(), ['failedTokenExchange', 'preAccountSelection', 'preAuthentication', 'preAuthorisation', 'preIdentification', 'rejected']);
  const current = metricsPayload(ledger, counts, 'CURRENT', 'https://x/metrics', nowMs).data as any;
  t.notOk('previousDays' in current.authorisations.expiredAuthorisationCount, 'CURRENT: today only');

  t.equal(REPORTING_SECONDS, 8 * 86_400);
  const bounded = new Arrangements(store, grants, 6);
  t.equal(await bounded.save(base('one-too-many')), 'untracked', 'past maxTracked: kept but not listed');
});

t.test('an ending that meets an amendment ends the amended grant too', async (t) => {
  const store = new MemoryStore();
  const grants = new Grants(store, LIFETIMES);
  const arrangements = new Arrangements(store, grants, 100);
  const now = Math.floor(Date.now() / 1000);
  const original: Arrangement = { id: 'a1', clientId: 'c1', sub: 's', grantId: 'g1', createdAt: now, expiresAt: now + 3600, sharingDurationSeconds: 3600 };
  await arrangements.save(original);
  // The amendment lands between the ending's read and its marker.
  const setIfAbsent = store.setIfAbsent.bind(store);
  store.setIfAbsent = async (...args: Parameters<MemoryStore['setIfAbsent']>) => {
    if (String(args[1]).startsWith('cdr:arrangement-ended:')) await arrangements.save({ ...original, grantId: 'g2', amendedAt: [now] });
    return setIfAbsent(...args);
  };
  const ended = await arrangements.end('a1', 'recipient');
  t.match(ended, { grantId: 'g2', endedBy: 'recipient' });
  t.ok(await store.anyExists([['grant-ended', 'g2']]), "the amendment's grant ended");
  t.ok(await store.anyExists([['grant-ended', 'g1']]), 'and the earlier one');
  t.equal(await arrangements.endedBy('a1'), 'recipient', 'an amendment checking afterwards sees the end');
});

/** The key path of the ConfigError `make` throws. */
function keyPathOf(make: () => unknown): string | undefined {
  try {
    make();
  } catch (err) {
    return (err as { keyPath?: string }).keyPath;
  }
  return undefined;
}

t.test('settings: named by key path when wrong', async (t) => {
  const base = { softwareProductStatusUri: 'https://r.example/p', dataRecipientStatusUri: 'https://r.example/d' };
  t.equal(registerSettings(undefined), undefined, 'none: a sandbox without a Register');
  t.throws(() => registerSettings({ register: base }), /exactly one of jwksFile, jwksUri/);
  t.equal(keyPathOf(() => registerSettings({ register: { ...base, jwksUri: 'http://r.example/jwks' } })), 'ecosystem.register.jwksUri', 'not https');
  t.equal(keyPathOf(() => registerSettings({ register: { ...base, jwksUri: 'https://r.example/jwks', pollSeconds: { min: 200, max: 100 } } })), 'ecosystem.register.pollSeconds');
  t.match(keyPathOf(() => registerSettings({ register: { ...base, jwksUri: 'https://r.example/jwks', surprise: 1 } })), /^ecosystem\.register/, 'an unknown key');
  const ok = registerSettings({ brandId: 'ignored by this part', register: { ...base, jwksUri: 'https://r.example/jwks' } })!;
  t.equal(ok.issuer, 'cdr-register');
  t.same(ok.pollSeconds, { min: 120, max: 240 });
});
