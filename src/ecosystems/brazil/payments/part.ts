import { ConfigError } from '../../../config/config-error.js';
import { composeHooks } from '../../compose.js';
import { paymentAuthorization } from './authorization.js';
import type { EcosystemHooks } from '../../hooks.js';
import { PaymentConsents } from './payment-consents.js';
import { paymentConsentRoutes } from './routes.js';
import { paymentsSettings } from './settings.js';

export type { PaymentConsentsApi, PaymentConsent, PaymentConsentStatus, RejectionCode } from './payment-consents.js';

/** The payment consents of a deployment; give the same one to the consents part (its `consent:{id}` handling) and to `paymentsPart`. */
export function paymentConsentsFor(settings: Record<string, unknown> | undefined): PaymentConsents {
  return new PaymentConsents(paymentsSettings(settings)?.bankUrnPrefix ?? 'bank');
}

/**
 * Payments (Open Finance Brasil Payments v4) when `ecosystem.payments` is set: the signed payment
 * consents and PIX payments APIs on the mTLS listener, and the customer's authorization of a payment
 * consent through PAR (scope `payments` with `consent:<id>`).
 */
export function paymentsPart(settings: Record<string, unknown> | undefined, paymentConsents: PaymentConsents = paymentConsentsFor(settings)): EcosystemHooks {
  const payments = paymentsSettings(settings);
  let started: Parameters<NonNullable<EcosystemHooks['start']>>[0] | undefined;
  const api: EcosystemHooks = {
    start(ctx) {
      started = ctx;
      paymentConsents.attach(ctx.store, ctx.grants);
      if (payments && !ctx.keys.signingKey(['PS256'])) throw new ConfigError('keys.signing', 'the payments API signs its answers PS256: an active PS256 key is needed');
    },
    async routes({ mtls }) {
      if (payments && started) await paymentConsentRoutes(mtls, started, payments, paymentConsents);
    },
  };
  return payments ? composeHooks(api, paymentAuthorization(paymentConsents)) : api;
}
