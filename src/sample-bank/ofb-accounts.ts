import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OFB_ACCOUNTS_BY_SUBJECT, type OfbAccount } from './data.js';

const timestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A small Open Finance Brasil accounts API (v2: list, balances) as a bank's upstream serves it behind
 * the gateway: only the accounts the consent names (`x-authenticated-account-ids`, when the gateway
 * passes it) are shown.
 */
export function ofbAccountsRoutes(app: FastifyInstance): void {
  const accountsOf = (request: FastifyRequest): OfbAccount[] => {
    const all = OFB_ACCOUNTS_BY_SUBJECT[String(request.headers['x-authenticated-subject'] ?? '')] ?? [];
    const chosen = request.headers['x-authenticated-account-ids'];
    if (typeof chosen !== 'string') return all;
    const ids = new Set(chosen.split(',').filter(Boolean));
    return all.filter((account) => ids.has(account.accountId));
  };
  const self = (request: FastifyRequest) => `${request.protocol}://${request.headers['x-forwarded-host'] ?? request.host}${request.url}`;
  const meta = (records: number) => ({ totalRecords: records, totalPages: records ? 1 : 0, requestDateTime: timestamp() });

  app.get('/open-banking/accounts/v2/accounts', async (request) => {
    const data = accountsOf(request).map(({ balances, ...account }) => (void balances, account));
    return { data, links: { self: self(request) }, meta: meta(data.length) };
  });
  app.get<{ Params: { id: string } }>('/open-banking/accounts/v2/accounts/:id/balances', async (request, reply) => {
    const account = accountsOf(request).find((a) => a.accountId === request.params.id);
    if (!account) {
      return reply.code(404).send({ errors: [{ code: 'NAO_ENCONTRADO', title: 'Conta não encontrada', detail: 'no such account under this consent' }], meta: { requestDateTime: timestamp() } });
    }
    const { availableAmount, blockedAmount, automaticallyInvestedAmount, currency, updateDateTime } = account.balances;
    return {
      data: {
        availableAmount: { amount: availableAmount, currency },
        blockedAmount: { amount: blockedAmount, currency },
        automaticallyInvestedAmount: { amount: automaticallyInvestedAmount, currency },
        updateDateTime,
      },
      links: { self: self(request) },
      meta: { requestDateTime: timestamp() },
    };
  });
}
