import type { AuthenticatedClient } from '../../clients/authenticate.js';
import type { GatewayContext } from '../../context.js';
import type { TokenResponse } from '../../tokens/token-response.js';

/** One handler per grant type (RFC 6749 §4, §6), composed by the token endpoint. */
export interface GrantHandler<Prefetched = undefined> {
  /**
   * Starts reading what the grant needs (e.g. the code's record) while the client is being
   * authenticated, so the two store round trips overlap. Nothing read is used, or shown, before the
   * client is authenticated.
   */
  prefetch?(ctx: GatewayContext, params: Record<string, string>): Promise<Prefetched>;
  handle(
    ctx: GatewayContext,
    params: Record<string, string>,
    caller: AuthenticatedClient & { certificateThumbprint: string },
    prefetched: Prefetched | undefined,
  ): Promise<TokenResponse>;
}
