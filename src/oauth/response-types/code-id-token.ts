import { issueIdToken } from '../../tokens/id-token.js';
import { invalidRequest } from '../errors.js';
import type { ResponseTypeHandler } from './response-type.js';

/**
 * The hybrid `response_type=code id_token` (OIDC Core §3.3, FAPI 1.0 Advanced §5.2.2.1): next to the
 * code, an ID token in the fragment that works as a detached signature over the response: `c_hash`
 * of the code, `s_hash` of the state, the request's `nonce`; encrypted to the client when it
 * registered id_token_encrypted_response_alg (as every ID token of the client is).
 */
export const codeIdToken: ResponseTypeHandler = {
  defaultResponseMode: 'fragment',
  // The query encoding must not be used for a response carrying a token (Multiple Response Types §5).
  responseModes: ['fragment'],
  validate({ params, scopes }) {
    if (!scopes.includes('openid')) throw invalidRequest('response_type=code id_token needs scope openid');
    // OIDC Core §3.3.2.11: the nonce is what ties the front-channel ID token to this request.
    if (params.nonce === undefined || params.nonce === '') throw invalidRequest('nonce is required with response_type=code id_token');
  },
  async approvedResponse({ ctx, client, request, grant, code }) {
    const hashed: Record<string, string> = { c_hash: code };
    if (request.state !== undefined) hashed.s_hash = request.state;
    const idToken = await issueIdToken(ctx, { grant, client, ...(request.nonce !== undefined ? { nonce: request.nonce } : {}), hashed });
    return { code, id_token: idToken };
  },
};
