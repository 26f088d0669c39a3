import { OfbError } from './ofb-error.js';
import type { PaymentConsent } from './payment-consents.js';

type Json = Record<string, unknown>;

/** PIX end-to-end id: E, the payer institution's ISPB, yyyyMMddHHmm, 11 characters. */
const END_TO_END_ID = /^E\d{8}\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d[a-zA-Z0-9]{11}$/;
const CNPJ = /^[0-9A-Z]{12}\d{2}$/;
const OPTIONAL_TEXT = ['remittanceInformation', 'qrCode', 'proxy', 'transactionIdentification', 'ibgeTownCode', 'authorisationFlow'] as const;

/** What a payment initiation keeps of the TPP's request. */
export interface PaymentInstruction {
  endToEndId: string;
  localInstrument: string;
  payment: { amount: string; currency: string };
  creditorAccount: Json;
  cnpjInitiator: string;
  consentId: string;
  extra: Json;
}

const object = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const missing = (field: string) => new OfbError(422, 'PARAMETRO_NAO_INFORMADO', `${field} is required`);
const invalid = (field: string, why: string) => new OfbError(422, 'PARAMETRO_INVALIDO', `${field} ${why}`);
const divergent = (field: string) => new OfbError(422, 'PAGAMENTO_DIVERGENTE_CONSENTIMENTO', `${field} differs from what the consent authorised`);

function text(parent: Json, name: string, path: string, pattern?: RegExp, max = 140): string {
  const value = parent[name];
  if (value === undefined || value === null || value === '') throw missing(`${path}.${name}`);
  if (typeof value !== 'string' || value.length > max || (pattern && !pattern.test(value))) throw invalid(`${path}.${name}`, 'is not valid');
  return value;
}

const ACCOUNT_FIELDS = ['ispb', 'issuer', 'number', 'accountType'] as const;

/**
 * The `data` of a PIX payment initiation (Payments API v4, one payment per consent here), checked
 * against the consent it consumes: the same amount, currency, instrument and creditor account, or
 * 422 PAGAMENTO_DIVERGENTE_CONSENTIMENTO; malformed fields 422 PARAMETRO_INVALIDO / _NAO_INFORMADO.
 */
export function paymentInstruction(body: unknown, consent: PaymentConsent): PaymentInstruction {
  if (!object(body)) throw missing('data');
  const list = body.data;
  if (list === undefined) throw missing('data');
  if (!Array.isArray(list) || list.length === 0) throw invalid('data', 'must be a non-empty array of payments');
  if (list.length > 1) throw invalid('data', 'must hold one payment: the consent authorises a single payment');
  const data = list[0];
  if (!object(data)) throw invalid('data[0]', 'must be an object');
  const path = 'data[0]';
  const endToEndId = text(data, 'endToEndId', path, END_TO_END_ID, 32);
  const localInstrument = text(data, 'localInstrument', path, /^[A-Z]{4}$/, 4);
  const payment = data.payment;
  if (!object(payment)) throw missing(`${path}.payment`);
  const amount = text(payment, 'amount', `${path}.payment`, /^\d{1,16}\.\d{2}$/, 19);
  const currency = text(payment, 'currency', `${path}.payment`, /^[A-Z]{3}$/, 3);
  const creditorAccount = data.creditorAccount;
  if (!object(creditorAccount)) throw missing(`${path}.creditorAccount`);
  const cnpjInitiator = text(data, 'cnpjInitiator', path, CNPJ, 14);
  const consentId = text(data, 'consentId', path, undefined, 256);
  const extra: Json = {};
  for (const name of OPTIONAL_TEXT) if (data[name] !== undefined) extra[name] = text(data, name, path);

  if (consentId !== consent.consentId) throw divergent(`${path}.consentId`);
  const authorised = consent.request.payment as { amount: string; currency: string; details: { localInstrument: string; creditorAccount: Json } };
  if (amount !== authorised.amount) throw divergent(`${path}.payment.amount`);
  if (currency !== authorised.currency) throw divergent(`${path}.payment.currency`);
  if (localInstrument !== authorised.details.localInstrument) throw divergent(`${path}.localInstrument`);
  for (const name of ACCOUNT_FIELDS) if ((creditorAccount[name] ?? undefined) !== (authorised.details.creditorAccount[name] ?? undefined)) throw divergent(`${path}.creditorAccount.${name}`);

  return { endToEndId, localInstrument, payment: { amount, currency }, creditorAccount: Object.fromEntries(ACCOUNT_FIELDS.filter((n) => creditorAccount[n] !== undefined).map((n) => [n, creditorAccount[n]])), cnpjInitiator, consentId, extra };
}
