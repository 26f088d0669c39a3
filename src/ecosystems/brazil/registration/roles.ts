/**
 * The OAuth scopes each regulatory role of the Directory allows (OFB DCR, "regulatory roles and
 * scopes"). A client registered without `scope` gets every scope of its active roles.
 */
export const ROLE_SCOPES: Readonly<Record<string, readonly string[]>> = {
  DADOS: [
    'openid', 'accounts', 'credit-cards-accounts', 'consents', 'customers', 'invoice-financings', 'financings', 'loans',
    'unarranged-accounts-overdraft', 'resources', 'credit-fixed-incomes', 'exchanges', 'bank-fixed-incomes', 'variable-incomes',
    'treasure-titles', 'funds',
  ],
  PAGTO: ['openid', 'payments'],
  CONTA: ['openid'],
  CCORR: ['openid'],
};

/**
 * The statement's active roles: `software_statement_roles` entries with status Active, or, in
 * statements without that claim, the plain `software_roles` list. Roles this table does not know give nothing.
 */
export function activeRoles(claims: Record<string, unknown>): string[] {
  const detailed = claims.software_statement_roles;
  if (Array.isArray(detailed))
    return detailed
      .filter((r): r is { role: string; status: string } => typeof r === 'object' && r !== null && typeof r.role === 'string' && r.status === 'Active')
      .map((r) => r.role);
  const plain = claims.software_roles;
  return Array.isArray(plain) ? plain.filter((r): r is string => typeof r === 'string') : [];
}

export function scopesOfRoles(roles: readonly string[]): string[] {
  return [...new Set(roles.flatMap((role) => ROLE_SCOPES[role] ?? []))];
}
