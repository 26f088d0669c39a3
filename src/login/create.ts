import type { GatewayContext } from '../context.js';
import type { BankLogin } from './bank-login.js';
import { ExternalLogin } from './external/external-login.js';

/** The bank's login of the configured `interaction.mode`; none for the built-in pages. */
export async function createBankLogin(ctx: GatewayContext): Promise<BankLogin | undefined> {
  switch (ctx.config.interaction.mode) {
    case 'external':
      return new ExternalLogin(ctx);
    case 'oidc': {
      const { OidcLogin } = await import('./oidc/oidc-login.js');
      return OidcLogin.create(ctx);
    }
    default:
      return undefined;
  }
}
