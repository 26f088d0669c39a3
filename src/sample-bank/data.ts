/** Sample accounts for the demo user of the embedded defaults (sub `alice-7f3c`). */
export interface Account {
  accountId: string;
  displayName: string;
  productCategory: string;
  currency: string;
  balance: { current: string; available: string };
  transactions: { transactionId: string; postingDateTime: string; amount: string; description: string }[];
}

export const ACCOUNTS_BY_SUBJECT: Record<string, Account[]> = {
  'alice-7f3c': [
    {
      accountId: 'acc-0001',
      displayName: 'Everyday account',
      productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
      currency: 'AUD',
      balance: { current: '1523.40', available: '1473.40' },
      transactions: [
        { transactionId: 'tx-1001', postingDateTime: '2026-11-20T09:12:00Z', amount: '-42.50', description: 'Grocer, Sydney' },
        { transactionId: 'tx-1002', postingDateTime: '2026-11-21T17:40:00Z', amount: '2500.00', description: 'Salary' },
        { transactionId: 'tx-1003', postingDateTime: '2026-11-23T12:03:00Z', amount: '-18.00', description: 'Cafe' },
      ],
    },
    {
      accountId: 'acc-0002',
      displayName: 'Savings account',
      productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
      currency: 'AUD',
      balance: { current: '10250.00', available: '10250.00' },
      transactions: [{ transactionId: 'tx-2001', postingDateTime: '2026-11-01T00:00:00Z', amount: '12.30', description: 'Interest' }],
    },
  ],
};

/** Sample Open Finance Brasil deposit accounts for the demo user (OFB accounts API v2 shapes). */
export interface OfbAccount {
  accountId: string;
  brandName: string;
  companyCnpj: string;
  type: string;
  subtype: string;
  compeCode: string;
  branchCode: string;
  number: string;
  checkDigit: string;
  balances: { availableAmount: string; blockedAmount: string; automaticallyInvestedAmount: string; currency: string; updateDateTime: string };
}

export const OFB_ACCOUNTS_BY_SUBJECT: Record<string, OfbAccount[]> = {
  'alice-7f3c': [
    {
      accountId: 'br-conta-0001',
      brandName: 'Banco Exemplo',
      companyCnpj: '50685362000135',
      type: 'CONTA_DEPOSITO_A_VISTA',
      subtype: 'INDIVIDUAL',
      compeCode: '001',
      branchCode: '6272',
      number: '94088392',
      checkDigit: '4',
      balances: { availableAmount: '1523.4000', blockedAmount: '0.0000', automaticallyInvestedAmount: '0.0000', currency: 'BRL', updateDateTime: '2026-11-23T12:03:00Z' },
    },
    {
      accountId: 'br-poupanca-0002',
      brandName: 'Banco Exemplo',
      companyCnpj: '50685362000135',
      type: 'CONTA_POUPANCA',
      subtype: 'INDIVIDUAL',
      compeCode: '001',
      branchCode: '6272',
      number: '11188222',
      checkDigit: '7',
      balances: { availableAmount: '10250.0000', blockedAmount: '0.0000', automaticallyInvestedAmount: '0.0000', currency: 'BRL', updateDateTime: '2026-11-01T00:00:00Z' },
    },
  ],
};
