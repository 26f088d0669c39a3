import type { AuthenticatedClient } from '../../clients/authenticate.js';
import type { GatewayContext } from '../../context.js';
import type { TokenResponse } from '../../tokens/token-response.js';
import type { TokenBinding } from '../../dpop/authorization-server.js';

/** One handler per grant type (RFC 6749 §4, §6), composed by the token endpoint. */
export interface GrantHandler<Read = undefined> {
  /**
   * Reads what the grant needs (e.g. the code's record). Called once the client is authenticated, in
   * the same store round trip as the check that its assertion is not replayed.
   */
  read?(ctx: GatewayContext, params: Record<string, string>): Promise<Read>;
  handle(
    ctx: GatewayContext,
    params: Record<string, string>,
    caller: AuthenticatedClient & TokenBinding,
    read: Read | undefined,
  ): Promise<TokenResponse>;
}
