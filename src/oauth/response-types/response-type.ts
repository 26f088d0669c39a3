import type { Static } from '@sinclair/typebox';
import type { Client } from '../../clients/client.js';
import type { Profile, ResponseMode, ResponseType } from '../../config/schema.js';
import { fapi1AdvancedProfile } from '../../config/profile.js';
import type { GatewayContext } from '../../context.js';
import type { Grant } from '../../grants/grant.js';
import type { AuthorizationRequest } from '../authorization-request.js';
import { code } from './code.js';
import { codeIdToken } from './code-id-token.js';

export type ResponseTypeName = Static<typeof ResponseType>;
type Mode = Static<typeof ResponseMode>;

/**
 * One response_type (OAuth 2.0 Multiple Response Type Encoding Practices): what it needs at PAR and
 * what an approved authorization returns at the redirect URI. The flow around it is the same for all.
 */
export interface ResponseTypeHandler {
  /** The response mode when the request names none. */
  defaultResponseMode: Mode;
  /** The response modes it may be encoded in (the profile's `responseModes` narrow them further). */
  responseModes: readonly Mode[];
  /** Rules of this response type at PAR, after the common ones; throws an OAuthError. */
  validate(input: { params: Record<string, string>; scopes: string[]; responseMode: Mode; profile: Profile }): void;
  /** The parameters of an approved authorization's response, besides `state` and `iss`. */
  approvedResponse(input: { ctx: GatewayContext; client: Client; request: AuthorizationRequest; grant: Grant; code: string }): Promise<Record<string, string>>;
}

export const RESPONSE_TYPES: Record<ResponseTypeName, ResponseTypeHandler> = { code, 'code id_token': codeIdToken };

/** The response types a profile offers: `code` alone unless it says otherwise. */
export function responseTypesOffered(profile: Profile): ResponseTypeName[] {
  return profile.authorizationRequest?.responseTypes ?? ['code'];
}

/**
 * What discovery advertises: the response types and modes offered to any client of the profile,
 * FAPI 1.0 Advanced clients included (`fapi1Advanced`), the profile's own first.
 */
export function responseTypesAdvertised(profile: Profile): ResponseTypeName[] {
  return [...new Set([...responseTypesOffered(profile), ...responseTypesOffered(fapi1AdvancedProfile(profile))])];
}

export function responseModesAdvertised(profile: Profile): Mode[] {
  return [...new Set([...profile.responseModes, ...fapi1AdvancedProfile(profile).responseModes])];
}

/**
 * The handler for a `response_type` value as sent, when the profile offers it. OAuth 2.0 §3.1.1: the
 * order of space-delimited values does not matter (`id_token code` is `code id_token`).
 */
export function responseTypeFor(value: string, profile: Profile): { name: ResponseTypeName; handler: ResponseTypeHandler } | undefined {
  // Reordered only: stray spaces or repeated values are not a response type.
  const normalized = value.split(' ').sort().join(' ') as ResponseTypeName;
  if (!responseTypesOffered(profile).includes(normalized)) return undefined;
  return { name: normalized, handler: RESPONSE_TYPES[normalized] };
}
