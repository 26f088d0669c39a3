import type { FastifyInstance, FastifyReply } from 'fastify';
import type { GatewayContext } from '../../context.js';
import { completeAuthorization } from '../../interaction/complete.js';
import { findInteraction, findSession, loginOf, startSession, type Interaction } from '../../interaction/interaction.js';
import { notLive, showInteraction } from '../../interaction/routes.js';
import type { PushedRequest } from '../../oauth/par.js';
import type { BankLogin } from '../bank-login.js';
import { interactionRef, parIdOf } from '../interaction-ref.js';

export const RESUME_PATH = '/authorize/resume';

/**
 * `interaction.mode: external`: the bank's own login and consent app signs the customer in. The
 * browser goes to the app with an interaction id; the app reads and answers the interaction over the
 * interaction API (its own mTLS listener) and sends the browser back to `/authorize/resume/{id}`,
 * where the authorization completes as with the built-in pages, in the browser that started it only.
 */
export class ExternalLogin implements BankLogin {
  readonly #loginUrl: string;

  constructor(private readonly ctx: GatewayContext) {
    this.#loginUrl = ctx.config.interaction.loginUrl!;
  }

  async begin(reply: FastifyReply, interaction: Interaction, _pushed: PushedRequest): Promise<FastifyReply> {
    const { ref } = await interactionRef(this.ctx, interaction);
    const target = new URL(this.#loginUrl);
    target.searchParams.set('interaction_id', ref);
    return reply.code(303).headers({ location: target.href, 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' }).send();
  }

  pageRoutes(app: FastifyInstance): void {
    const ctx = this.ctx;
    app.get<{ Params: { ref: string } }>(`${RESUME_PATH}/:ref`, async (request, reply) => {
      const parId = await parIdOf(ctx, request.params.ref);
      if (!parId) return notLive(reply, 'gone');
      const found = await findInteraction(ctx, request, parId);
      if (found.found !== 'live') return notLive(reply, found.found);
      const { interaction, pushed } = found;
      const decision = interaction.decision;
      if (decision && 'error' in decision) {
        ctx.metrics?.loginFailures.inc({ reason: 'bank' });
        return completeAuthorization(ctx, reply, parId, pushed, { approved: false, error: decision.error, description: decision.description });
      }
      // A login made in this interaction (not one a session stood in for) starts a browser session, as the built-in one does.
      if (interaction.sub !== undefined && (interaction.authTime ?? 0) >= (interaction.startedAt ?? Infinity) && !(await findSession(ctx, request)))
        await startSession(ctx, reply, loginOf(interaction));
      if (decision)
        return completeAuthorization(ctx, reply, parId, pushed, {
          approved: true,
          ...loginOf(interaction),
          scope: decision.scope,
          ...(decision.accountIds ? { decision: { accountIds: decision.accountIds } } : {}),
        });
      return showInteraction(ctx, reply, interaction, pushed);
    });
  }
}
