import { Type, type Static } from '@sinclair/typebox';
import { validate } from '../../../config/validate.js';

/** `ecosystem.payments`: the payment consents API (off when absent). */
export const PaymentsSchema = Type.Object(
  {
    /** The bank's organisation id in the Directory: `iss` of every signed response. */
    organisationId: Type.String({ minLength: 1, maxLength: 100 }),
    /** Largest signed request body accepted. */
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 262_144, default: 16_384 }),
  },
  { additionalProperties: false },
);
export type PaymentsSettings = Static<typeof PaymentsSchema> & { bankUrnPrefix: string };

export function paymentsSettings(settings: Record<string, unknown> | undefined): PaymentsSettings | undefined {
  if (settings?.payments === undefined) return undefined;
  const payments = validate(PaymentsSchema, settings.payments, 'ecosystem.payments');
  // bankUrnPrefix is the consents part's key (it validates it); consent ids share its form.
  const prefix = typeof settings.bankUrnPrefix === 'string' && settings.bankUrnPrefix ? settings.bankUrnPrefix : 'bank';
  return { ...payments, bankUrnPrefix: prefix };
}
