import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ACCOUNTS_BY_SUBJECT, type Account } from './data.js';

const NOT_FOUND = {
  errors: [{ code: 'urn:au-cds:error:cds-banking:Authorisation/InvalidBankingAccount', title: 'Invalid Banking Account', detail: 'no such account for this customer', meta: {} }],
};

/**
 * A small CDS banking API (Get Accounts, Get Account Balance) as a data holder's upstream serves it
 * behind the gateway, which has checked the CDS headers and passes the negotiated `x-v`.
 */
export function cdsBankingRoutes(app: FastifyInstance): void {
  const accountsOf = (request: FastifyRequest) => ACCOUNTS_BY_SUBJECT[String(request.headers['x-authenticated-subject'] ?? '')] ?? [];
  const self = (request: FastifyRequest) => `${request.protocol}://${request.headers['x-forwarded-host'] ?? request.host}${request.url}`;
  const version = (request: FastifyRequest, reply: { header(name: string, value: string): unknown }) => reply.header('x-v', String(request.headers['x-v'] ?? '1'));
  const cdsAccount = (account: Account) => ({
    accountId: account.accountId,
    displayName: account.displayName,
    maskedNumber: `xxxx xxxx xxxx ${account.accountId.slice(-4)}`,
    openStatus: 'OPEN',
    isOwned: true,
    productCategory: account.productCategory,
    productName: account.displayName,
  });

  app.get('/cds-au/v1/banking/accounts', async (request, reply) => {
    version(request, reply);
    const accounts = accountsOf(request).map(cdsAccount);
    return { data: { accounts }, links: { self: self(request) }, meta: { totalRecords: accounts.length, totalPages: accounts.length ? 1 : 0 } };
  });
  app.get<{ Params: { id: string } }>('/cds-au/v1/banking/accounts/:id/balance', async (request, reply) => {
    version(request, reply);
    const account = accountsOf(request).find((a) => a.accountId === request.params.id);
    if (!account) return reply.code(404).send(NOT_FOUND);
    return {
      data: { accountId: account.accountId, currentBalance: account.balance.current, availableBalance: account.balance.available, currency: account.currency },
      links: { self: self(request) },
      meta: {},
    };
  });
}
