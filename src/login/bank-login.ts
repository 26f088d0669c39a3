import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Interaction } from '../interaction/interaction.js';
import type { PushedRequest } from '../oauth/par.js';

/**
 * A login done by the bank rather than the built-in pages: where the built-in login (external mode:
 * the consent too) would show, the browser is sent to the bank's app or identity provider instead.
 */
export interface BankLogin {
  begin(reply: FastifyReply, interaction: Interaction, pushed: PushedRequest): Promise<FastifyReply>;
  /** Where the browser comes back from the bank (public listener, answered as pages). */
  pageRoutes(app: FastifyInstance): void;
}
