import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../../../config/config-error.js';
import { validate } from '../../../config/validate.js';

const HttpsUrl = Type.String({ pattern: '^https://[^?#]+(\\?[^#]*)?$' });

/** `ecosystem.register`: where the CDR Register publishes its keys and the participants' statuses. */
export const RegisterSettingsSchema = Type.Object(
  {
    /** The `iss` of software statements and of the Register's self-signed admin JWTs. */
    issuer: Type.String({ minLength: 1, default: 'cdr-register' }),
    /** The Register's JWKS: a file (read at start) or its URL (fetched, cached, fetched again for an unknown kid). */
    jwksFile: Type.Optional(Type.String({ minLength: 1 })),
    jwksUri: Type.Optional(HttpsUrl),
    /** Get Software Products Statuses, e.g. https://api.cdr.gov.au/cdr-register/v1/all/data-recipients/brands/software-products/status */
    softwareProductStatusUri: HttpsUrl,
    /** Get Data Recipients Statuses, e.g. https://api.cdr.gov.au/cdr-register/v1/all/data-recipients/status */
    dataRecipientStatusUri: HttpsUrl,
    /** The `x-v` sent to the status endpoints. */
    statusVersion: Type.Integer({ minimum: 1, maximum: 99, default: 2 }),
    /** The statuses are fetched again after a random wait in this range (seconds), so a change is acted on within the max. */
    pollSeconds: Type.Object(
      { min: Type.Integer({ minimum: 10, maximum: 300, default: 120 }), max: Type.Integer({ minimum: 10, maximum: 300, default: 240 }) },
      { additionalProperties: false, default: {} },
    ),
    /** The base URI the Register names as `aud` of its admin JWTs; the mTLS listener's URL when absent. */
    adminBaseUri: Type.Optional(HttpsUrl),
    /** Private address blocks the Register URLs may resolve to (none by default). */
    allowPrivateAddresses: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  },
  { additionalProperties: false },
);
export type RegisterSettings = Static<typeof RegisterSettingsSchema>;

/**
 * The `register` key of the CDR pack's settings (undefined when absent: a sandbox data holder without a
 * Register, whose clients are the config's own); the other keys belong to the pack's other parts.
 */
export function registerSettings(settings: Record<string, unknown> | undefined): RegisterSettings | undefined {
  if (settings?.register === undefined) return undefined;
  const register = validate(RegisterSettingsSchema, settings.register, 'ecosystem.register');
  if ((register.jwksFile === undefined) === (register.jwksUri === undefined)) throw new ConfigError('ecosystem.register', 'give exactly one of jwksFile, jwksUri');
  if (register.pollSeconds.min > register.pollSeconds.max) throw new ConfigError('ecosystem.register.pollSeconds', `min ${register.pollSeconds.min} is above max ${register.pollSeconds.max}`);
  return register;
}
