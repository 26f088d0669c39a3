import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../../../config/config-error.js';
import { validate } from '../../../config/validate.js';

/** `ecosystem.directory`: the Open Finance Brasil Directory whose software statements registration trusts. */
export const DirectorySchema = Type.Object(
  {
    /** The `iss` of its statements (e.g. "Open Banking Open Banking Brasil production SSA issuer"). */
    issuer: Type.String({ minLength: 1 }),
    /** Its signing keys: a URL (fetched through the guarded fetcher, refetched for an unknown kid) or a file of public keys. */
    jwksUri: Type.Optional(Type.String({ pattern: '^https://' })),
    jwksFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type DirectorySettings = Static<typeof DirectorySchema>;

export function directorySettings(settings: Record<string, unknown> | undefined): DirectorySettings | undefined {
  if (settings?.directory === undefined) return undefined;
  const directory = validate(DirectorySchema, settings.directory, 'ecosystem.directory');
  if ((directory.jwksUri === undefined) === (directory.jwksFile === undefined)) throw new ConfigError('ecosystem.directory', 'give exactly one of jwksUri, jwksFile');
  return directory;
}
