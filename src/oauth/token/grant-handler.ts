import type { AuthenticatedClient } from '../../clients/authenticate.js';
import type { GatewayContext } from '../../context.js';
import type { TokenResponse } from '../../tokens/token-response.js';

/** One handler per grant type (RFC 6749 §4, §6), composed by the token endpoint. */
export type GrantHandler = (
  ctx: GatewayContext,
  params: Record<string, string>,
  caller: AuthenticatedClient & { certificateThumbprint: string },
) => Promise<TokenResponse>;
