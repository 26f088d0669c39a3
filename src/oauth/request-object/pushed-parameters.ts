import type { Client } from '../../clients/client.js';
import type { GatewayContext } from '../../context.js';
import { invalidRequest, OAuthError } from '../errors.js';
import { decryptRequestObject, isCompactJwe } from './decrypt.js';
import { RequestObjectError } from './errors.js';
import { requestObjectMode } from './policy.js';
import { recordRequestObjectJti } from './replay.js';
import { verifyRequestObject } from './verify.js';

/** Claims of the JWT itself, not authorization parameters. */
const JWT_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub']);

export interface PushedParameters {
  /** The authorization parameters to validate: the request object's claims, or the form's. */
  params: Record<string, string>;
  /** Records the request object's jti (a no-op without one); call once everything else passed. */
  recordJti(): Promise<void>;
}

const nothingToRecord = () => Promise.resolve();

/**
 * Where a pushed request's authorization parameters come from. With a request object (RFC 9101 §5),
 * only from inside it: the form's other parameters (but client_id and client authentication) are
 * ignored. Without one, from the form, unless the profile or the client requires a signed request.
 */
export async function pushedParameters(form: Record<string, string>, client: Client, ctx: GatewayContext): Promise<PushedParameters> {
  const mode = requestObjectMode(client.rules);
  // Profiles without request objects answer `request` as they always did (request_not_supported).
  if (mode === 'none' || (form.request === undefined && !client.requestObject.required)) return { params: form, recordJti: nothingToRecord };
  const outcome = (name: string) => ctx.metrics?.requestObjects.inc({ outcome: name });
  try {
    if (form.request === undefined) {
      const refused = invalidRequest('this client must send its authorization request as a signed request object (request)');
      refused.audit = 'unsigned_request_refused';
      throw refused;
    }
    if (form.request_uri !== undefined) throw invalidRequest('request_uri must not be sent to the pushed authorization request endpoint');
    const jws = isCompactJwe(form.request) ? await decryptRequestObject(form.request, client, ctx.encryptionKeys) : form.request;
    const { payload, acceptableForSeconds } = await verifyRequestObject(jws, client, ctx.urls.issuer, client.rules);
    const params = authorizationParameters(payload);
    requireInside(params, client.rules.authorizationRequest?.requestObjectClaims ?? []);
    const jti = payload.jti;
    return {
      params,
      recordJti: async () => {
        try {
          if (jti !== undefined) await recordRequestObjectJti(ctx.store, client.id, jti, acceptableForSeconds);
          outcome('accepted');
        } catch (err) {
          if (err instanceof RequestObjectError) outcome(err.reason);
          throw err;
        }
      },
    };
  } catch (err) {
    if (err instanceof RequestObjectError) outcome(err.reason);
    else if (err instanceof OAuthError) outcome(form.request === undefined ? 'unsigned_refused' : 'invalid_request');
    throw err;
  }
}

/**
 * The request object's claims as the form parameters they stand for: strings as they are, numbers
 * (max_age) and booleans as text, objects (claims) as JSON, for the same validation as a form.
 */
function authorizationParameters(payload: Record<string, unknown>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (JWT_CLAIMS.has(name) || value === null || value === undefined) continue;
    params[name] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return params;
}

/**
 * FAPI 1.0 Advanced §5.2.3-8: the parameters the profile names must be inside the signed request
 * object itself (a copy on the form does not count: it is not covered by the signature). `nonce`
 * is required with scope openid only (FAPI 1.0 Baseline §5.2.2.2).
 */
function requireInside(params: Record<string, string>, names: readonly string[]): void {
  const openid = (params.scope ?? '').split(' ').includes('openid');
  for (const name of names) {
    if (name === 'nonce' && !openid) continue;
    if (params[name] === undefined || params[name] === '') throw new RequestObjectError(`missing_${name}`, `the request object must contain ${name}`);
  }
}
