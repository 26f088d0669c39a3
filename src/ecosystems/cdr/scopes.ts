/** The Consumer Data Standards' scopes a data holder publishes (common, banking, energy). */
export const CDS_DATA_SCOPES = [
  'common:customer.basic:read',
  'common:customer.detail:read',
  'bank:accounts.basic:read',
  'bank:accounts.detail:read',
  'bank:transactions:read',
  'bank:regular_payments:read',
  'bank:payees:read',
  'energy:electricity.servicepoints.basic:read',
  'energy:electricity.servicepoints.detail:read',
  'energy:electricity.usage:read',
  'energy:electricity.der:read',
  'energy:accounts.basic:read',
  'energy:accounts.detail:read',
  'energy:accounts.paymentschedule:read',
  'energy:accounts.concessions:read',
  'energy:billing:read',
] as const;

/** Scopes for a recipient's own calls (registration management, the Register's admin calls): never in a customer's authorization. */
export const CLIENT_CREDENTIALS_ONLY_SCOPES = new Set(['cdr:registration', 'admin:metrics.basic:read', 'admin:metadata:update']);

export const CDR_SCOPES = ['openid', 'profile', ...CDS_DATA_SCOPES, ...CLIENT_CREDENTIALS_ONLY_SCOPES];
