/** The one small JSON body bench/upstream.ts answers every request with (checked on every reply). */
export const UPSTREAM_BODY = JSON.stringify({ data: { accounts: [{ accountId: 'acc-001', currency: 'EUR', nickname: 'Bench' }] }, meta: {} });
