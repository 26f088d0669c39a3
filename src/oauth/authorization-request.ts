import type { Client } from '../clients/client.js';
import type { Profile, ResponseMode } from '../config/schema.js';
import type { Static } from '@sinclair/typebox';
import type { EcosystemHooks } from '../ecosystems/hooks.js';
import { OAuthError, invalidRequest } from './errors.js';
import { responseTypeFor, responseTypesOffered, type ResponseTypeName } from './response-types/response-type.js';

export interface ClaimRequest {
  essential?: boolean;
  value?: unknown;
  values?: unknown[];
}
/** The OpenID Connect `claims` request parameter (OIDC Core §5.5). */
export interface ClaimsRequest {
  id_token?: Record<string, ClaimRequest | null>;
  userinfo?: Record<string, ClaimRequest | null>;
  /** Other members (OIDC Core §5.5: "MAY be present"): kept as sent for an ecosystem to read, else ignored. */
  [member: string]: unknown;
}

/** The members of `claims` that request claims; OIDC Core §5.5 says others are ignored unless understood. */
const CLAIM_TARGETS = ['id_token', 'userinfo'];

/** A validated authorization request, as pushed to the PAR endpoint. */
export interface AuthorizationRequest {
  clientId: string;
  /** `code`, or the hybrid `code id_token` where the profile offers it (src/oauth/response-types). */
  responseType: ResponseTypeName;
  /** `query`, JARM (`jwt`, `query.jwt`) when the profile offers it, `fragment` for the hybrid flow. */
  responseMode: Static<typeof ResponseMode>;
  redirectUri: string;
  scope: string;
  state?: string;
  nonce?: string;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
  claims?: ClaimsRequest;
  acrValues?: string[];
  prompt?: string[];
  maxAge?: number;
  /** OIDC Core §3.1.2.1: the languages the customer prefers for the pages, in order. */
  uiLocales?: string[];
  /** What ecosystem hooks kept from the request (e.g. a sharing duration). */
  extensions: Record<string, unknown>;
  /** RFC 9449 §10: the DPoP key the code is bound to (the PAR proof's, or `dpop_jkt`). */
  dpopJkt?: string;
  /** OpenID Grant Management: what the client asked to do with a grant (src/grants/management/client-grant-management.ts). */
  grantManagement?: GrantManagementRequest;
}

export interface GrantManagementRequest {
  action: 'create' | 'merge' | 'replace';
  /** merge and replace: the grant amended. */
  grantId?: string;
}

const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * Bounds on what a client may push: a pushed request is kept until it is used or expires, so its
 * size must not be the client's choice. Far above what any real request needs.
 */
export const PUSHED_REQUEST_LIMITS = {
  parameters: 50,
  nameLength: 128,
  valueLength: 2048,
  claimsBytes: 16_384,
  /** Nesting of objects and arrays in `claims`; a real one needs 4 (claims.id_token.acr.values). */
  claimsDepth: 8,
} as const;
/** Parameters that only authenticate the client: checked, never stored, bounded by the body limit. */
const AUTHENTICATION_PARAMETERS = new Set(['client_assertion']);
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

/**
 * Validates all authorization parameters at once (RFC 9126 §2.1, FAPI 2.0 §5.3.2.2). The order of
 * checks decides which error a request with several problems gets: the ones about where the
 * response may go come first.
 */
export async function validateAuthorizationRequest(
  params: Record<string, string>,
  client: Client,
  profile: Profile,
  hooks: EcosystemHooks,
): Promise<AuthorizationRequest> {
  checkSizes(params);
  if (params.request_uri !== undefined) throw invalidRequest('request_uri must not be sent to the pushed authorization request endpoint');
  if (params.request !== undefined) throw new OAuthError('request_not_supported', 'request objects are not supported by this profile');

  const redirectUri = params.redirect_uri;
  if (redirectUri === undefined) throw invalidRequest('redirect_uri is required');
  if (!client.redirectUris.has(redirectUri)) throw invalidRequest('redirect_uri is not registered for this client');

  const responseType = params.response_type;
  if (responseType === undefined) throw invalidRequest('response_type is required');
  const type = responseTypeFor(responseType, profile);
  if (!type) {
    const offered = responseTypesOffered(profile);
    throw new OAuthError('unsupported_response_type', offered.length === 1 ? `only response_type=${offered[0]} is supported` : `response_type must be one of: ${offered.join(', ')}`);
  }
  if (!client.grantTypes.has('authorization_code')) throw new OAuthError('unauthorized_client', 'this client may not use the authorization code flow');
  if (!client.responseTypes.has(type.name)) throw new OAuthError('unauthorized_client', `this client did not register response_type ${type.name}`);

  const responseMode = (params.response_mode ?? type.handler.defaultResponseMode) as AuthorizationRequest['responseMode'];
  const modes = profile.responseModes.filter((mode) => type.handler.responseModes.includes(mode));
  if (!modes.includes(responseMode)) throw invalidRequest(`response_mode must be one of ${modes.join(', ')}`);

  if (params.code_challenge === undefined) throw invalidRequest('code_challenge is required (PKCE)');
  if (params.code_challenge_method !== 'S256') throw invalidRequest('code_challenge_method must be S256');
  if (!CODE_CHALLENGE.test(params.code_challenge)) throw invalidRequest('code_challenge is malformed');

  const scopes = (params.scope ?? '').split(' ').filter(Boolean);
  if (scopes.length === 0) throw new OAuthError('invalid_scope', 'scope is required');
  const notAllowed = scopes.filter((s) => !client.scopes.has(s) && !hooks.isDynamicScope?.(s));
  if (notAllowed.length) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${notAllowed.join(' ')}`);
  type.handler.validate({ params, scopes, responseMode, profile });

  const request: AuthorizationRequest = {
    clientId: client.id,
    responseType: type.name,
    responseMode,
    redirectUri,
    scope: [...new Set(scopes)].join(' '),
    codeChallenge: params.code_challenge,
    codeChallengeMethod: 'S256',
    extensions: {},
  };
  if (params.state !== undefined) request.state = params.state;
  if (params.nonce !== undefined) request.nonce = params.nonce;
  if (params.claims !== undefined) request.claims = parseClaims(params.claims);
  if (params.ui_locales !== undefined) request.uiLocales = params.ui_locales.split(' ').filter(Boolean).slice(0, 10);
  if (params.acr_values !== undefined) request.acrValues = params.acr_values.split(' ').filter(Boolean);
  if (params.prompt !== undefined) {
    const prompt = params.prompt.split(' ').filter(Boolean);
    if (prompt.some((p) => !PROMPTS.has(p)) || (prompt.includes('none') && prompt.length > 1)) throw invalidRequest('prompt is invalid');
    request.prompt = prompt;
  }
  if (params.max_age !== undefined) {
    if (!/^\d{1,9}$/.test(params.max_age)) throw invalidRequest('max_age must be a non-negative integer');
    request.maxAge = Number(params.max_age);
  }
  await hooks.validateAuthorizationRequest?.({ params, request, client });
  return request;
}

function checkSizes(params: Record<string, string>): void {
  const limits = PUSHED_REQUEST_LIMITS;
  const names = Object.keys(params);
  if (names.length > limits.parameters) throw invalidRequest(`too many parameters (at most ${limits.parameters})`);
  for (const name of names) {
    if (name.length > limits.nameLength) throw invalidRequest(`a parameter name is longer than ${limits.nameLength} characters`);
    if (AUTHENTICATION_PARAMETERS.has(name)) continue;
    if (name === 'claims') {
      if (Buffer.byteLength(params.claims) > limits.claimsBytes) throw invalidRequest(`claims is larger than ${limits.claimsBytes} bytes`);
    } else if (params[name].length > limits.valueLength) throw invalidRequest(`${name} is longer than ${limits.valueLength} characters`);
  }
}

/**
 * The deepest nesting of objects and arrays in a JSON text, counted without parsing so that a
 * pathological text costs one pass and no recursion. Stops counting past `limit`.
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

function parseClaims(text: string): ClaimsRequest {
  if (jsonDepth(text, PUSHED_REQUEST_LIMITS.claimsDepth) > PUSHED_REQUEST_LIMITS.claimsDepth)
    throw invalidRequest(`claims is nested more than ${PUSHED_REQUEST_LIMITS.claimsDepth} levels deep`);
  let claims: unknown;
  try {
    claims = JSON.parse(text);
  } catch {
    throw invalidRequest('claims is not valid JSON');
  }
  if (!isObject(claims)) throw invalidRequest('claims must be a JSON object');
  for (const target of Object.keys(claims)) {
    if (!CLAIM_TARGETS.includes(target)) continue;
    const members = claims[target];
    if (!isObject(members)) throw invalidRequest(`claims.${target} must be an object`);
    for (const [name, spec] of Object.entries(members)) {
      if (spec !== null && !isObject(spec)) throw invalidRequest(`claims.${target}.${name} must be null or an object`);
      if (isObject(spec)) {
        if (spec.essential !== undefined && typeof spec.essential !== 'boolean') throw invalidRequest(`claims.${target}.${name}.essential must be a boolean`);
        if (spec.values !== undefined && !Array.isArray(spec.values)) throw invalidRequest(`claims.${target}.${name}.values must be an array`);
        // acr is matched against what the login reaches (authentication-context/acr.ts): text only.
        if (name === 'acr' && spec.value !== undefined && typeof spec.value !== 'string') throw invalidRequest(`claims.${target}.acr.value must be a string`);
        if (name === 'acr' && Array.isArray(spec.values) && spec.values.some((v) => typeof v !== 'string')) throw invalidRequest(`claims.${target}.acr.values must be strings`);
      }
    }
  }
  return claims as ClaimsRequest;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
