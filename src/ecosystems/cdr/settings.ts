import { Type, type Static } from '@sinclair/typebox';
import { validate } from '../../config/validate.js';

/**
 * The authorization part's settings under `ecosystem:` (the other parts validate their own keys and
 * this one ignores theirs).
 */
const AuthorizationSettingsSchema = Type.Object(
  {
    /** The data holder brand id (CDR Register): `iss` and `sub` of what the holder signs for recipients. */
    brandId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    arrangements: Type.Object(
      {
        /** The longest sharing_duration honoured (seconds); a longer request is cut to it. One year (the CDS maximum) by default. */
        maxSharingDurationSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 31_536_000 }),
        /** Arrangements listed for the Register's counts and for ending a removed product's arrangements (all replicas); past it a new one works but is not listed (logged). */
        maxTracked: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 1_000_000 }),
        /** The customer claim (from the user directory or the bank's login) saying `person` or `organisation`; a customer without it counts as individual. */
        customerTypeClaim: Type.String({ minLength: 1, maxLength: 128, default: 'customer_type' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Outbound CDR Arrangement Revocation notices to data recipients. */
    recipients: Type.Object(
      {
        /** Each delivery attempt, connection to body. */
        timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
        /** Attempts before a notice is given up (and the failure logged for the operator). */
        maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 12 }),
        /** Delay before the second attempt; doubled after each failure, up to maxRetryDelaySeconds. */
        retryDelaySeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
        maxRetryDelaySeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 3600 }),
        /** A notice not delivered within this long is dropped (and logged). */
        noticeLifetimeSeconds: Type.Integer({ minimum: 60, maximum: 604_800, default: 172_800 }),
        /** Notices waiting at once (all replicas); past it a withdrawal still ends the arrangement, the notice is refused and logged. */
        maxPending: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
        /** How often each replica looks for notices due. */
        pollIntervalMs: Type.Integer({ minimum: 50, maximum: 60_000, default: 2000 }),
        /** Private address blocks recipient URIs may resolve to (tests, a recipient inside the network); none by default. */
        allowPrivateAddresses: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: true },
);
export type AuthorizationSettings = Static<typeof AuthorizationSettingsSchema>;

/** Throws a ConfigError naming `ecosystem.<key>` when a setting is wrong. */
export function authorizationSettings(settings: Record<string, unknown> | undefined): AuthorizationSettings {
  const { brandId, arrangements, recipients } = settings ?? {};
  return validate(AuthorizationSettingsSchema, { brandId, arrangements, recipients }, 'ecosystem');
}
