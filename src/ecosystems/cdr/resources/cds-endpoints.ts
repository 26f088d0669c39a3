/**
 * The resource endpoints the Consumer Data Standards define under /cds-au/v1 (banking, energy, common
 * and the Register-facing admin APIs). A path that is one of them but that no route serves is "not
 * implemented" (404 Resource/NotImplemented); any other path under /cds-au is simply not found.
 */
const TEMPLATES = [
  'banking/accounts',
  'banking/accounts/balances',
  'banking/accounts/transactions',
  'banking/accounts/direct-debits',
  'banking/accounts/{id}',
  'banking/accounts/{id}/balance',
  'banking/accounts/{id}/transactions',
  'banking/accounts/{id}/transactions/{id}',
  'banking/accounts/{id}/direct-debits',
  'banking/accounts/{id}/payments/scheduled',
  'banking/payments/scheduled',
  'banking/payees',
  'banking/payees/{id}',
  'banking/products',
  'banking/products/{id}',
  'common/customer',
  'common/customer/detail',
  'discovery/status',
  'discovery/outages',
  'admin/metrics',
  'admin/register/metadata',
  'energy/plans',
  'energy/plans/{id}',
  'energy/electricity/servicepoints',
  'energy/electricity/servicepoints/usage',
  'energy/electricity/servicepoints/der',
  'energy/electricity/servicepoints/{id}',
  'energy/electricity/servicepoints/{id}/usage',
  'energy/electricity/servicepoints/{id}/der',
  'energy/accounts',
  'energy/accounts/balances',
  'energy/accounts/invoices',
  'energy/accounts/billing',
  'energy/accounts/concessions',
  'energy/accounts/payment-schedule',
  'energy/accounts/{id}',
  'energy/accounts/{id}/balance',
  'energy/accounts/{id}/invoices',
  'energy/accounts/{id}/billing',
  'energy/accounts/{id}/concessions',
  'energy/accounts/{id}/payment-schedule',
].map((template) => template.split('/'));

export const CDS_ROOT = '/cds-au';
const VERSIONED_ROOT = `${CDS_ROOT}/v1/`;

/** Whether a request path (no query) is one of the CDS-defined endpoints. */
export function isCdsEndpoint(path: string): boolean {
  if (!path.startsWith(VERSIONED_ROOT)) return false;
  const segments = path.slice(VERSIONED_ROOT.length).split('/');
  return TEMPLATES.some((template) => template.length === segments.length && template.every((part, i) => part === '{id}' ? segments[i] !== '' : part === segments[i]));
}

/** Whether a path lies in the CDS namespace, where only CDS endpoints exist. */
export function inCdsNamespace(path: string): boolean {
  return path === CDS_ROOT || path.startsWith(CDS_ROOT + '/');
}
