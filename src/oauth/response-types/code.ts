import { invalidRequest } from '../errors.js';
import type { ResponseTypeHandler } from './response-type.js';

const JARM_MODES = new Set(['jwt', 'query.jwt']);

/** `response_type=code`: the code in the query, or inside a JARM response. */
export const code: ResponseTypeHandler = {
  defaultResponseMode: 'query',
  responseModes: ['query', 'jwt', 'query.jwt'],
  validate({ responseMode, profile }) {
    // FAPI 1.0 Advanced §5.2.2-2: a plain code response is neither signed nor bound to the request.
    if (profile.authorizationRequest?.codeRequiresJarm && !JARM_MODES.has(responseMode))
      throw invalidRequest('response_type=code needs response_mode=jwt (JARM) under this profile; or use response_type=code id_token where offered');
  },
  approvedResponse: async ({ code }) => ({ code }),
};
