import type { Profile } from '../../config/schema.js';

/** Key management algorithms of encrypted request objects (RSA1_5 and key wrapping never). */
export const REQUEST_OBJECT_ENCRYPTION_ALGS = ['RSA-OAEP-256', 'ECDH-ES'] as const;
/** Content encryption of encrypted request objects. */
export const REQUEST_OBJECT_ENCRYPTION_ENCS = ['A256GCM'] as const;

export type RequestObjectMode = 'required' | 'optional' | 'none';

/** Whether the profile takes signed request objects at PAR (`none` when it says nothing). */
export function requestObjectMode(profile: Profile): RequestObjectMode {
  return profile.requestObject ?? 'none';
}

/** JWS algorithms a request object may be signed with under the profile. */
export function requestObjectAlgorithms(profile: Profile): string[] {
  return profile.algorithms.requestObject ?? profile.algorithms.clientAssertion;
}

/** What one client's request objects must be, prepared once at start (see clients/registry.ts). */
export interface ClientRequestObjectRules {
  /** An unsigned PAR is refused (the profile requires it, or the client registered require_signed_request_object). */
  required: boolean;
  algorithms: string[];
  /** The client registered request_object_encryption_alg: its request objects must come encrypted. */
  encryption?: { alg: string; enc: string };
}
