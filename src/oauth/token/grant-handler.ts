import type { AuthenticatedClient } from '../../clients/authenticate.js';
import type { GatewayContext } from '../../context.js';
import type { TokenResponse } from '../../tokens/token-response.js';
import type { TokenBinding } from '../../dpop/authorization-server.js';
import type { SequenceStep } from '../../store/store.js';

/**
 * The client assertion's replay check, left to a handler that decides one-time writes from a copy
 * (GrantHandler.readCopy): `step` goes first in its sequence, and `checked` gets that step's outcome
 * (it throws when the assertion was used before) before anything else is decided.
 */
export interface ReplayInSequence {
  step?: SequenceStep;
  checked(recorded: boolean): void;
}

/** One handler per grant type (RFC 6749 §4, §6), composed by the token endpoint. */
export interface GrantHandler<Read = undefined> {
  /**
   * Reads what the grant needs (e.g. the code's record). Called once the client is authenticated, in
   * the same store round trip as the check that its assertion is not replayed.
   */
  read?(ctx: GatewayContext, params: Record<string, string>): Promise<Read>;
  /**
   * What `read` would read, from this replica's copy (Store.copy), when it has one: the handler then
   * gets the replay check to send in the one sequence that its one-time writes need, guarded on what
   * it read, and no store round trip is spent on reading.
   */
  readCopy?(ctx: GatewayContext, params: Record<string, string>): Read | undefined;
  handle(
    ctx: GatewayContext,
    params: Record<string, string>,
    caller: AuthenticatedClient & TokenBinding,
    read: Read | undefined,
    replay?: ReplayInSequence,
  ): Promise<TokenResponse>;
}
