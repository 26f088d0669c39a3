import { OfbError } from './ofb-error.js';

type Json = Record<string, unknown>;

const CPF = /^\d{11}$/;
// Since Consents 3.3.1 a CNPJ may be alphanumeric: 12 characters, then two check digits.
const CNPJ = /^[0-9A-Z]{12}\d{2}$/;
const AMOUNT = /^\d{1,16}\.\d{2}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISPB = /^\d{8}$/;
const LOCAL_INSTRUMENTS = ['MANU', 'DICT', 'QRDN', 'QRES', 'INIC'];
const ACCOUNT_TYPES = ['CACC', 'SVGS', 'TRAN', 'SLRY'];
const MAX_DAYS_AHEAD = 365;

const object = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const missing = (field: string) => new OfbError(422, 'PARAMETRO_NAO_INFORMADO', `${field} is required`);
const invalid = (field: string, why: string, code = 'PARAMETRO_INVALIDO') => new OfbError(422, code, `${field} ${why}`);

function field(parent: Json, name: string, path: string): unknown {
  const value = parent[name];
  if (value === undefined || value === null || value === '') throw missing(`${path}.${name}`);
  return value;
}

function text(parent: Json, name: string, path: string, pattern?: RegExp, max = 140): string {
  const value = field(parent, name, path);
  if (typeof value !== 'string' || value.length > max || (pattern && !pattern.test(value))) throw invalid(`${path}.${name}`, 'is not valid');
  return value;
}

function document(parent: Json, path: string, rel: 'CPF' | 'CNPJ'): void {
  const doc = field(parent, 'document', path);
  if (!object(doc)) throw invalid(`${path}.document`, 'must be an object');
  text(doc, 'identification', `${path}.document`, rel === 'CPF' ? CPF : CNPJ, 14);
  if (text(doc, 'rel', `${path}.document`) !== rel) throw invalid(`${path}.document.rel`, `must be ${rel}`);
}

function account(value: unknown, path: string, code: string): void {
  if (!object(value)) throw invalid(path, 'must be an object', code);
  text(value, 'ispb', path, ISPB);
  text(value, 'number', path, /^\d{1,20}$/);
  if (!ACCOUNT_TYPES.includes(text(value, 'accountType', path))) throw invalid(`${path}.accountType`, `must be one of ${ACCOUNT_TYPES.join(', ')}`, code);
  if (value.issuer !== undefined) text(value, 'issuer', path, /^\d{1,4}$/);
}

/**
 * The `data` of a payment consent request (Payments API v4, PIX): checked for what the consent
 * needs, answered with the 422 codes of the API. Returns what is kept.
 */
export function paymentConsentRequest(body: unknown, today: Date = new Date()): Json {
  if (!object(body) || !object(body.data)) throw missing('data');
  const data = body.data;
  const loggedUser = field(data, 'loggedUser', 'data');
  if (!object(loggedUser)) throw invalid('data.loggedUser', 'must be an object');
  document(loggedUser, 'data.loggedUser', 'CPF');
  if (data.businessEntity !== undefined) {
    if (!object(data.businessEntity)) throw invalid('data.businessEntity', 'must be an object');
    document(data.businessEntity, 'data.businessEntity', 'CNPJ');
  }

  const creditor = field(data, 'creditor', 'data');
  if (!object(creditor)) throw invalid('data.creditor', 'must be an object');
  const personType = text(creditor, 'personType', 'data.creditor');
  if (personType !== 'PESSOA_NATURAL' && personType !== 'PESSOA_JURIDICA') throw invalid('data.creditor.personType', 'must be PESSOA_NATURAL or PESSOA_JURIDICA');
  text(creditor, 'cpfCnpj', 'data.creditor', personType === 'PESSOA_NATURAL' ? CPF : CNPJ, 14);
  text(creditor, 'name', 'data.creditor');

  const payment = field(data, 'payment', 'data');
  if (!object(payment)) throw invalid('data.payment', 'must be an object');
  if (text(payment, 'type', 'data.payment') !== 'PIX') throw invalid('data.payment.type', 'must be PIX', 'FORMA_PAGAMENTO_INVALIDA');
  if (text(payment, 'currency', 'data.payment') !== 'BRL') throw invalid('data.payment.currency', 'must be BRL');
  const amount = text(payment, 'amount', 'data.payment', AMOUNT, 19);
  if (Number(amount) <= 0) throw invalid('data.payment.amount', 'must be more than zero', 'VALOR_INVALIDO');
  if (payment.date !== undefined && payment.schedule !== undefined) throw invalid('data.payment', 'has both date and schedule', 'DATA_PAGAMENTO_INVALIDA');
  if (payment.date === undefined && payment.schedule === undefined) throw missing('data.payment.date');
  if (payment.date !== undefined) checkDate(payment.date, today);
  else if (!object(payment.schedule)) throw invalid('data.payment.schedule', 'must be an object', 'DATA_PAGAMENTO_INVALIDA');

  const details = field(payment, 'details', 'data.payment');
  if (!object(details)) throw invalid('data.payment.details', 'must be an object', 'DETALHE_PAGAMENTO_INVALIDO');
  if (!LOCAL_INSTRUMENTS.includes(text(details, 'localInstrument', 'data.payment.details')))
    throw invalid('data.payment.details.localInstrument', `must be one of ${LOCAL_INSTRUMENTS.join(', ')}`, 'DETALHE_PAGAMENTO_INVALIDO');
  account(field(details, 'creditorAccount', 'data.payment.details'), 'data.payment.details.creditorAccount', 'DETALHE_PAGAMENTO_INVALIDO');
  if (data.debtorAccount !== undefined) account(data.debtorAccount, 'data.debtorAccount', 'PARAMETRO_INVALIDO');

  const { loggedUser: u, businessEntity, debtorAccount } = data;
  return { loggedUser: u, ...(businessEntity ? { businessEntity } : {}), creditor, payment, ...(debtorAccount ? { debtorAccount } : {}) };
}

function checkDate(value: unknown, today: Date): void {
  if (typeof value !== 'string' || !DATE.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)))
    throw invalid('data.payment.date', 'is not a date (YYYY-MM-DD)', 'DATA_PAGAMENTO_INVALIDA');
  // Payment dates are Brasília dates (UTC−3).
  const todayBr = new Date(today.getTime() - 3 * 3_600_000).toISOString().slice(0, 10);
  const days = (Date.parse(value) - Date.parse(todayBr)) / 86_400_000;
  if (days < 0 || days > MAX_DAYS_AHEAD) throw invalid('data.payment.date', 'must be today or within a year', 'DATA_PAGAMENTO_INVALIDA');
}
