/**
 * Open Finance Brasil data permissions (Consents API v3): the groups a consent must be made of
 * (each with RESOURCES_READ), the product each belongs to, and their names for the customer.
 */
export const PRODUCTS = [
  'customers-personal',
  'customers-business',
  'accounts',
  'credit-cards-accounts',
  'loans',
  'financings',
  'unarranged-accounts-overdraft',
  'invoice-financings',
  'investments',
  'exchanges',
] as const;
export type Product = (typeof PRODUCTS)[number];

interface PermissionGroup {
  product: Product;
  permissions: string[];
}

const R = 'RESOURCES_READ';
const GROUPS: PermissionGroup[] = [
  { product: 'customers-personal', permissions: ['CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ', R] },
  { product: 'customers-personal', permissions: ['CUSTOMERS_PERSONAL_ADITTIONALINFO_READ', R] },
  { product: 'customers-business', permissions: ['CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ', R] },
  { product: 'customers-business', permissions: ['CUSTOMERS_BUSINESS_ADITTIONALINFO_READ', R] },
  { product: 'accounts', permissions: ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', R] },
  { product: 'accounts', permissions: ['ACCOUNTS_READ', 'ACCOUNTS_OVERDRAFT_LIMITS_READ', R] },
  { product: 'accounts', permissions: ['ACCOUNTS_READ', 'ACCOUNTS_TRANSACTIONS_READ', R] },
  { product: 'credit-cards-accounts', permissions: ['CREDIT_CARDS_ACCOUNTS_READ', 'CREDIT_CARDS_ACCOUNTS_LIMITS_READ', R] },
  { product: 'credit-cards-accounts', permissions: ['CREDIT_CARDS_ACCOUNTS_READ', 'CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ', R] },
  { product: 'credit-cards-accounts', permissions: ['CREDIT_CARDS_ACCOUNTS_READ', 'CREDIT_CARDS_ACCOUNTS_BILLS_READ', 'CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ', R] },
  { product: 'loans', permissions: ['LOANS_READ', 'LOANS_WARRANTIES_READ', 'LOANS_SCHEDULED_INSTALMENTS_READ', 'LOANS_PAYMENTS_READ', R] },
  { product: 'financings', permissions: ['FINANCINGS_READ', 'FINANCINGS_WARRANTIES_READ', 'FINANCINGS_SCHEDULED_INSTALMENTS_READ', 'FINANCINGS_PAYMENTS_READ', R] },
  {
    product: 'unarranged-accounts-overdraft',
    permissions: ['UNARRANGED_ACCOUNTS_OVERDRAFT_READ', 'UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ', 'UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ', 'UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ', R],
  },
  { product: 'invoice-financings', permissions: ['INVOICE_FINANCINGS_READ', 'INVOICE_FINANCINGS_WARRANTIES_READ', 'INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ', 'INVOICE_FINANCINGS_PAYMENTS_READ', R] },
  { product: 'investments', permissions: ['BANK_FIXED_INCOMES_READ', R] },
  { product: 'investments', permissions: ['CREDIT_FIXED_INCOMES_READ', R] },
  { product: 'investments', permissions: ['FUNDS_READ', R] },
  { product: 'investments', permissions: ['VARIABLE_INCOMES_READ', R] },
  { product: 'investments', permissions: ['TREASURE_TITLES_READ', R] },
  { product: 'exchanges', permissions: ['EXCHANGES_READ', R] },
];

export const ALL_PERMISSIONS: ReadonlySet<string> = new Set(GROUPS.flatMap((g) => g.permissions));
const PERSONAL = /^CUSTOMERS_PERSONAL_/;
const BUSINESS = /^CUSTOMERS_BUSINESS_/;

/** Why a permission list is refused: the OFB code, with the HTTP status it goes with. */
export interface PermissionProblem {
  status: 400 | 422;
  code: string;
  detail: string;
}

/**
 * Checks a consent's permissions (OFB Consents v3) and trims those of products the bank does not
 * offer. The result keeps the request's order, without repeats.
 */
export function checkPermissions(
  requested: string[],
  options: { businessEntity: boolean; products: readonly string[] },
): { permissions: string[] } | { problem: PermissionProblem } {
  const unique = [...new Set(requested)];
  const unknown = unique.filter((p) => !ALL_PERMISSIONS.has(p));
  if (unknown.length) return { problem: { status: 400, code: 'PARAMETRO_INVALIDO', detail: `unknown permission: ${unknown.slice(0, 3).join(', ')}` } };
  const held = new Set(unique);
  // Every permission must come with a whole group it belongs to (RESOURCES_READ included).
  const incomplete = unique.filter((p) => !GROUPS.some((g) => g.permissions.includes(p) && g.permissions.every((q) => held.has(q))));
  if (incomplete.length)
    return { problem: { status: 422, code: 'COMBINACAO_PERMISSOES_INCORRETA', detail: `permissions not in a complete group: ${incomplete.slice(0, 3).join(', ')}` } };
  const personal = unique.some((p) => PERSONAL.test(p));
  const business = unique.some((p) => BUSINESS.test(p));
  if (personal && business) return { problem: { status: 422, code: 'PERMISSAO_PF_PJ_EM_CONJUNTO', detail: 'personal and business customer permissions cannot be requested together' } };
  if (business && !options.businessEntity) return { problem: { status: 422, code: 'PERMISSOES_PJ_INCORRETAS', detail: 'business customer permissions need a businessEntity' } };
  const offered = new Set(GROUPS.filter((g) => options.products.includes(g.product)).flatMap((g) => g.permissions.filter((p) => p !== R)));
  const kept = unique.filter((p) => p === R || offered.has(p));
  if (!kept.some((p) => p !== R))
    return { problem: { status: 422, code: 'SEM_PERMISSOES_FUNCIONAIS_RESTANTES', detail: 'none of the requested permissions is for a product this institution offers' } };
  return { permissions: kept };
}

const LABELS: Record<string, { 'pt-BR': string; en: string }> = {
  RESOURCES_READ: { 'pt-BR': 'Lista de produtos e serviços', en: 'List of your products and services' },
  CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ: { 'pt-BR': 'Dados cadastrais (identificação)', en: 'Your registration data (identification)' },
  CUSTOMERS_PERSONAL_ADITTIONALINFO_READ: { 'pt-BR': 'Informações complementares do cadastro', en: 'Additional registration information' },
  CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ: { 'pt-BR': 'Dados cadastrais da empresa', en: "Your company's registration data" },
  CUSTOMERS_BUSINESS_ADITTIONALINFO_READ: { 'pt-BR': 'Informações complementares da empresa', en: "Your company's additional information" },
  ACCOUNTS_READ: { 'pt-BR': 'Dados das contas', en: 'Account details' },
  ACCOUNTS_BALANCES_READ: { 'pt-BR': 'Saldos das contas', en: 'Account balances' },
  ACCOUNTS_OVERDRAFT_LIMITS_READ: { 'pt-BR': 'Limites das contas', en: 'Account overdraft limits' },
  ACCOUNTS_TRANSACTIONS_READ: { 'pt-BR': 'Extratos das contas', en: 'Account transactions' },
  CREDIT_CARDS_ACCOUNTS_READ: { 'pt-BR': 'Dados dos cartões de crédito', en: 'Credit card details' },
  CREDIT_CARDS_ACCOUNTS_LIMITS_READ: { 'pt-BR': 'Limites dos cartões de crédito', en: 'Credit card limits' },
  CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ: { 'pt-BR': 'Transações dos cartões de crédito', en: 'Credit card transactions' },
  CREDIT_CARDS_ACCOUNTS_BILLS_READ: { 'pt-BR': 'Faturas dos cartões de crédito', en: 'Credit card bills' },
  CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ: { 'pt-BR': 'Transações das faturas dos cartões', en: 'Credit card bill transactions' },
  LOANS_READ: { 'pt-BR': 'Dados dos empréstimos', en: 'Loan details' },
  LOANS_WARRANTIES_READ: { 'pt-BR': 'Garantias dos empréstimos', en: 'Loan warranties' },
  LOANS_SCHEDULED_INSTALMENTS_READ: { 'pt-BR': 'Parcelas dos empréstimos', en: 'Loan instalments' },
  LOANS_PAYMENTS_READ: { 'pt-BR': 'Pagamentos dos empréstimos', en: 'Loan payments' },
  FINANCINGS_READ: { 'pt-BR': 'Dados dos financiamentos', en: 'Financing details' },
  FINANCINGS_WARRANTIES_READ: { 'pt-BR': 'Garantias dos financiamentos', en: 'Financing warranties' },
  FINANCINGS_SCHEDULED_INSTALMENTS_READ: { 'pt-BR': 'Parcelas dos financiamentos', en: 'Financing instalments' },
  FINANCINGS_PAYMENTS_READ: { 'pt-BR': 'Pagamentos dos financiamentos', en: 'Financing payments' },
  UNARRANGED_ACCOUNTS_OVERDRAFT_READ: { 'pt-BR': 'Dados do adiantamento a depositantes', en: 'Unarranged overdraft details' },
  UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ: { 'pt-BR': 'Garantias do adiantamento a depositantes', en: 'Unarranged overdraft warranties' },
  UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ: { 'pt-BR': 'Parcelas do adiantamento a depositantes', en: 'Unarranged overdraft instalments' },
  UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ: { 'pt-BR': 'Pagamentos do adiantamento a depositantes', en: 'Unarranged overdraft payments' },
  INVOICE_FINANCINGS_READ: { 'pt-BR': 'Dados dos direitos creditórios descontados', en: 'Invoice financing details' },
  INVOICE_FINANCINGS_WARRANTIES_READ: { 'pt-BR': 'Garantias dos direitos creditórios descontados', en: 'Invoice financing warranties' },
  INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ: { 'pt-BR': 'Parcelas dos direitos creditórios descontados', en: 'Invoice financing instalments' },
  INVOICE_FINANCINGS_PAYMENTS_READ: { 'pt-BR': 'Pagamentos dos direitos creditórios descontados', en: 'Invoice financing payments' },
  BANK_FIXED_INCOMES_READ: { 'pt-BR': 'Investimentos em renda fixa bancária', en: 'Bank fixed-income investments' },
  CREDIT_FIXED_INCOMES_READ: { 'pt-BR': 'Investimentos em renda fixa de crédito', en: 'Credit fixed-income investments' },
  FUNDS_READ: { 'pt-BR': 'Fundos de investimento', en: 'Investment funds' },
  VARIABLE_INCOMES_READ: { 'pt-BR': 'Investimentos em renda variável', en: 'Variable-income investments' },
  TREASURE_TITLES_READ: { 'pt-BR': 'Títulos do Tesouro Direto', en: 'Treasury bonds' },
  EXCHANGES_READ: { 'pt-BR': 'Operações de câmbio', en: 'Foreign exchange operations' },
};

/** A permission's name for the customer, in Portuguese and English. */
export function permissionLabel(permission: string): { 'pt-BR': string; en: string } {
  return LABELS[permission] ?? { 'pt-BR': permission, en: permission };
}

/** Whether the consent covers account-like products the customer picks accounts for. */
export function needsAccountChoice(permissions: readonly string[]): boolean {
  return permissions.some((p) => p.startsWith('ACCOUNTS_') || p.startsWith('CREDIT_CARDS_ACCOUNTS_'));
}
