import { Type, type Static } from '@sinclair/typebox';
import { validate } from '../../config/validate.js';
import { PRODUCTS } from './consents/permissions.js';

const Account = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), label: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

/** The consents part's settings under `ecosystem:` (other parts' keys are theirs and ignored here). */
export const ConsentSettingsSchema = Type.Object(
  {
    /** Consent ids are `urn:<bankUrnPrefix>:<opaque id>` (RFC 8141 namespace identifier form). */
    bankUrnPrefix: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,31}$' }),
    consents: Type.Object(
      {
        /** Products whose permissions the bank serves; permissions of others are trimmed from new consents. */
        products: Type.Array(Type.Union(PRODUCTS.map((p) => Type.Literal(p))), { minItems: 1, uniqueItems: true, default: [...PRODUCTS] }),
        /** How long an ended or expired consent can still be read (GET) before it is forgotten. */
        retentionSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 604_800 }),
        /** The accounts each customer (by `sub`) may choose among on the consent page. */
        accounts: Type.Record(Type.String(), Type.Array(Account, { maxItems: 50 }), { default: {} }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** The payments part's settings (validated there); without them, PAR refuses the `payments` scope. */
    payments: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
);
export type ConsentSettings = Static<typeof ConsentSettingsSchema>;

export function consentSettings(settings: Record<string, unknown> | undefined): ConsentSettings {
  return validate(ConsentSettingsSchema, settings ?? {}, 'ecosystem');
}
