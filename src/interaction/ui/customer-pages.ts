import type { UiSettings } from '../../config/schema.js';
import { BankAccounts } from './bank-accounts.js';
import { ClientLogos } from './client-logos.js';
import { loadUi, type Ui } from './settings.js';

/** Everything the customer-facing pages need beyond the request: branding and texts, client logos, the bank's account list. */
export interface CustomerPages {
  ui: Ui;
  clientLogos: ClientLogos;
  /** `ui.accounts`: where the account selection's list comes from (else only a pack's accounts are offered). */
  accounts?: BankAccounts;
}

/** Builds the pages from `ui:` at start; a bad setting is a ConfigError naming its key path. */
export async function customerPages(settings: UiSettings): Promise<CustomerPages> {
  return {
    ui: await loadUi(settings),
    clientLogos: new ClientLogos(settings.clientLogos),
    ...(settings.accounts ? { accounts: new BankAccounts(settings.accounts) } : {}),
  };
}
