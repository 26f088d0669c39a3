import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { ACCOUNTS_BY_SUBJECT, type Account } from './data.js';
import { cdsBankingRoutes } from './cds-banking.js';
import { ofbAccountsRoutes } from './ofb-accounts.js';
import { noSchemaCompilers } from '../http/no-schema-compilers.js';

/**
 * A stand-in for a bank's own account service, for the embedded defaults and the demo. It trusts
 * the identity headers the gateway sets and knows nothing else about the gateway.
 */
export function sampleBank(): FastifyInstance {
  const app = Fastify({ logger: false, ...noSchemaCompilers });
  const accountsOf = (request: FastifyRequest) => ACCOUNTS_BY_SUBJECT[String(request.headers['x-authenticated-subject'] ?? '')] ?? [];
  const summary = ({ transactions, balance, ...account }: Account) => (void transactions, void balance, account);
  const find = (request: FastifyRequest<{ Params: { id: string } }>) => accountsOf(request).find((a) => a.accountId === request.params.id);
  const notFound = { errors: [{ code: 'ResourceNotFound', title: 'Account not found', detail: 'no such account for this customer' }] };

  app.get('/accounts', async (request) => ({ data: { accounts: accountsOf(request).map(summary) }, meta: {} }));
  app.get<{ Params: { id: string } }>('/accounts/:id', async (request, reply) => {
    const account = find(request);
    return account ? { data: summary(account), meta: {} } : reply.code(404).send(notFound);
  });
  app.get<{ Params: { id: string } }>('/accounts/:id/balance', async (request, reply) => {
    const account = find(request);
    return account ? { data: { accountId: account.accountId, currency: account.currency, ...account.balance }, meta: {} } : reply.code(404).send(notFound);
  });
  app.get<{ Params: { id: string } }>('/accounts/:id/transactions', async (request, reply) => {
    const account = find(request);
    return account ? { data: { transactions: account.transactions }, meta: {} } : reply.code(404).send(notFound);
  });
  // The same customer's data as the CDS and OFB APIs present it (for profiles cdr and brazil).
  cdsBankingRoutes(app);
  ofbAccountsRoutes(app);
  return app;
}
