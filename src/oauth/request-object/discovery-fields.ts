import type { GatewayContext } from '../../context.js';
import { REQUEST_OBJECT_ENCRYPTION_ENCS, requestObjectAlgorithms, requestObjectMode } from './policy.js';

/** Discovery metadata for signed (and encrypted) request objects; nothing when the profile takes none. */
export function requestObjectMetadata(ctx: GatewayContext): Record<string, unknown> {
  const mode = requestObjectMode(ctx.profile);
  if (mode === 'none') return {};
  const encryptionAlgs = ctx.encryptionKeys?.algorithms ?? [];
  return {
    request_parameter_supported: true,
    // RFC 9101 §10.5: every client must send request objects.
    require_signed_request_object: mode === 'required',
    request_object_signing_alg_values_supported: requestObjectAlgorithms(ctx.profile),
    ...(encryptionAlgs.length
      ? { request_object_encryption_alg_values_supported: encryptionAlgs, request_object_encryption_enc_values_supported: [...REQUEST_OBJECT_ENCRYPTION_ENCS] }
      : {}),
  };
}
