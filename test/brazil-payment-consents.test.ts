/**
 * The payment consent lifecycle the authorization flow drives (`paymentConsents`): authorised,
 * partially accepted, rejected, consumed, and the timeouts (5 minutes awaiting, 60 minutes
 * authorised), with the grant ended when the consent is consumed or rejected. On the memory store,
 * with the real grants; also the #hex subject comparison and the parts' composition.
 */
import t from 'tap';
import { Grants, type Grant } from '../src/grants/grant.js';
import { MemoryStore } from '../src/store/memory.js';
import { PaymentConsents, type PaymentConsent } from '../src/ecosystems/brazil/payments/payment-consents.js';
import { paymentConsentRequest } from '../src/ecosystems/brazil/payments/consent-request.js';
import { normalizeDnString, sameDn } from '../src/tls/distinguished-name.js';
import { composeHooks } from '../src/ecosystems/compose.js';
import { activeRoles, scopesOfRoles } from '../src/ecosystems/brazil/registration/roles.js';

async function setUp() {
  const store = new MemoryStore();
  const grants = new Grants(store, { accessToken: 300, code: 60, maxSeconds: 86_400, refreshToken: () => 0 });
  const consents = new PaymentConsents('bank');
  const audit: string[] = [];
  consents.attach(store, grants);
  consents.useLog({ info: (fields) => audit.push(fields.audit as string) });
  const grant = async (): Promise<Grant> => {
    const g: Grant = { id: `g-${Math.random()}`, clientId: 'tpp', sub: 'alice', scope: 'openid payments', createdAt: Math.floor(Date.now() / 1000), extensions: {} };
    await grants.save(g);
    return g;
  };
  /** Moves a consent's clock back by `seconds`, as time passing would. */
  const age = async (id: string, seconds: number) => {
    const c = (await store.get<PaymentConsent>('payment-consent', id))!;
    await store.set('payment-consent', id, { ...c, createdAt: c.createdAt - seconds * 1000, statusUpdatedAt: c.statusUpdatedAt - seconds * 1000 }, 3600);
  };
  const create = () => consents.create({ clientId: 'tpp', organisationId: 'org-1', request: { loggedUser: {} } });
  return { store, grants, consents, audit, grant, age, create };
}

async function refusal(call: Promise<unknown>): Promise<any> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  return 'accepted';
}

t.test('authorised, then consumed: the grant ends with it', async (t) => {
  const { consents, grants, grant, create, audit } = await setUp();
  const consent = await create();
  t.match(consent.consentId, /^urn:bank:/);
  t.equal((await consents.get(consent.consentId))?.status, 'AWAITING_AUTHORISATION');
  t.equal(await consents.get('urn:bank:unknown'), undefined, 'any other id is not a payment consent');
  const g = await grant();
  t.equal((await consents.authorise(consent.consentId, { grantId: g.id, debtorAccount: { number: '1' } })).status, 'AUTHORISED');
  t.match(await refusal(consents.authorise(consent.consentId, {})), { status: 422, code: 'STATUS_CONSENTIMENTO_INVALIDO' }, 'not twice');
  t.equal((await consents.consume(consent.consentId)).status, 'CONSUMED');
  t.equal(await grants.get(g.id), undefined, 'the grant (and its refresh tokens) ended');
  t.match(await refusal(consents.consume(consent.consentId)), { status: 422 }, 'consumed once');
  t.match(await refusal(consents.reject(consent.consentId, { code: 'REJEITADO_USUARIO', detail: 'x' })), { status: 422 }, 'a consumed consent stays consumed');
  t.same(audit, ['payment_consent_created', 'payment_consent_authorised', 'payment_consent_consumed']);
});

t.test('partially accepted, then authorised; rejected by the customer', async (t) => {
  const { consents, grants, grant, create } = await setUp();
  const consent = await create();
  t.equal((await consents.authorise(consent.consentId, { partial: true })).status, 'PARTIALLY_ACCEPTED');
  t.match(await refusal(consents.consume(consent.consentId)), { status: 422 }, 'not consumed before it is authorised');
  t.equal((await consents.authorise(consent.consentId, {})).status, 'AUTHORISED');
  const other = await create();
  const g = await grant();
  await consents.authorise(other.consentId, { grantId: g.id, partial: true });
  const rejected = await consents.reject(other.consentId, { code: 'REJEITADO_USUARIO', detail: 'the customer refused' });
  t.equal(rejected.status, 'REJECTED');
  t.same(rejected.rejectionReason, { code: 'REJEITADO_USUARIO', detail: 'the customer refused' });
  t.equal(await grants.get(g.id), undefined);
  t.match(await refusal(consents.authorise('urn:bank:nothing', {})), { status: 404 });
});

t.test('timeouts: 5 minutes awaiting authorisation, 60 minutes authorised', async (t) => {
  const { consents, grants, grant, create, age, audit } = await setUp();
  const waiting = await create();
  await age(waiting.consentId, 299);
  t.equal((await consents.get(waiting.consentId))?.status, 'AWAITING_AUTHORISATION', 'within 5 minutes');
  await age(waiting.consentId, 2);
  const expired = await consents.get(waiting.consentId);
  t.equal(expired?.status, 'REJECTED');
  t.equal(expired?.rejectionReason?.code, 'TEMPO_EXPIRADO_AUTORIZACAO');
  t.equal(expired?.statusUpdatedAt, expired!.createdAt + 300_000, 'as of when its time ran out');
  t.match(await refusal(consents.authorise(waiting.consentId, {})), { status: 422 }, 'too late to authorise');

  const used = await create();
  const g = await grant();
  await consents.authorise(used.consentId, { grantId: g.id });
  await age(used.consentId, 3601);
  const unused = await consents.get(used.consentId);
  t.equal(unused?.status, 'REJECTED');
  t.equal(unused?.rejectionReason?.code, 'TEMPO_EXPIRADO_CONSUMO');
  t.equal(await grants.get(g.id), undefined, 'its grant ended');
  t.match(await refusal(consents.consume(used.consentId)), { status: 422 });
  t.ok(audit.includes('payment_consent_expired'));
});

t.test('a change under way elsewhere: the second waits its turn (409)', async (t) => {
  const { consents, store, create } = await setUp();
  const consent = await create();
  await store.setIfAbsent('payment-consent', `${consent.consentId}\u0000lock`, 1, 10);
  t.match(await refusal(consents.authorise(consent.consentId, {})), { status: 409 });
});

t.test('a payment date is a Brasília date', async (t) => {
  const body = (date: string) => ({
    data: {
      loggedUser: { document: { identification: '11111111111', rel: 'CPF' } },
      creditor: { personType: 'PESSOA_JURIDICA', cpfCnpj: 'AB345678000199', name: 'Loja' },
      payment: { type: 'PIX', date, currency: 'BRL', amount: '1.00', details: { localInstrument: 'MANU', creditorAccount: { ispb: '12345678', number: '1', accountType: 'TRAN' } } },
    },
  });
  // 01:00 UTC on 2 March is still 1 March in Brasília.
  const at = new Date('2026-03-02T01:00:00Z');
  t.ok(paymentConsentRequest(body('2026-03-01'), at), 'today in Brasília');
  t.throws(() => paymentConsentRequest(body('2026-02-28'), at), { code: 'DATA_PAGAMENTO_INVALIDA' });
  t.throws(() => paymentConsentRequest(body('2027-03-02'), at), { code: 'DATA_PAGAMENTO_INVALIDA' }, 'more than a year ahead');
  t.throws(() => paymentConsentRequest({ data: { ...body('2026-03-01').data, businessEntity: { document: { identification: '123', rel: 'CNPJ' } } } }, at), { code: 'PARAMETRO_INVALIDO' });
});

t.test('subject DNs: #hex values compare by the string they encode (RFC 4517)', async (t) => {
  const hex = (tag: number, s: string) => `#${tag.toString(16).padStart(2, '0')}${s.length.toString(16).padStart(2, '0')}${Buffer.from(s).toString('hex')}`;
  const named = normalizeDnString('CN=tpp,UID=sw-1,organizationIdentifier=OFBBR-org-1,serialNumber=123,jurisdictionC=BR,businessCategory=Private Organization,O=ICP-Brasil,C=BR');
  const java = normalizeDnString(
    `CN=tpp,UID=sw-1,2.5.4.97=${hex(0x0c, 'OFBBR-org-1')},2.5.4.5=${hex(0x13, '123')},1.3.6.1.4.1.311.60.2.1.3=${hex(0x13, 'BR')},2.5.4.15=${hex(0x0c, 'Private Organization')},O=ICP-Brasil,C=BR`,
  );
  t.ok(sameDn(named, java), 'UTF8String and PrintableString in #hex form');
  t.notOk(sameDn(named, normalizeDnString(`CN=tpp,UID=sw-1,2.5.4.97=${hex(0x0c, 'OFBBR-org-2')},2.5.4.5=123,jurisdictionC=BR,businessCategory=Private Organization,O=ICP-Brasil,C=BR`)), 'another value');
  t.same(normalizeDnString('CN=#0201ff'), normalizeDnString('CN=#0201FF'), 'a value that is not a string stays its BER');
  t.notOk(sameDn(normalizeDnString('CN=#0201ff'), normalizeDnString('CN=x')));
});

t.test('roles: active ones only; the plain list where the detailed one is absent', async (t) => {
  t.same(activeRoles({ software_statement_roles: [{ role: 'PAGTO', status: 'Active' }, { role: 'DADOS', status: 'Inactive' }], software_roles: ['DADOS'] }), ['PAGTO']);
  t.same(activeRoles({ software_roles: ['DADOS', 7] }), ['DADOS']);
  t.same(scopesOfRoles(['PAGTO', 'CONTA', 'UNKNOWN']), ['openid', 'payments']);
});

t.test('composed parts: every part runs, object answers merge, sync stays sync', async (t) => {
  const order: string[] = [];
  const hooks = composeHooks(
    { registrationSettings: () => ({ rotateAccessToken: false }), start: async () => void order.push('a') },
    { registrationSettings: () => ({ singleUseStatements: true }), start: () => void order.push('b') },
  );
  t.same(hooks.registrationSettings!(), { rotateAccessToken: false, singleUseStatements: true });
  await hooks.start!(undefined as never);
  t.same(order, ['a', 'b']);
});
