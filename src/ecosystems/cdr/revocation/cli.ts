import type { GatewayContext } from '../../../context.js';
import type { EcosystemCommand } from '../../hooks.js';
import { withdrawArrangement } from './withdraw.js';
import type { RevocationNotices } from './notices.js';

export const ARRANGEMENTS_USAGE = '  fapi-gateway arrangements revoke ID --config FILE   the customer withdraws CDR arrangement ID: its tokens end, its recipient is told';

/**
 * `fapi-gateway arrangements revoke ID`: for the bank's staff acting on a customer's withdrawal. Needs
 * the replicas' shared store (Redis). The first delivery attempt is made here; the replicas retry.
 */
export function arrangementsCommand(ctx: GatewayContext, notices: () => RevocationNotices): EcosystemCommand {
  return {
    usage: ARRANGEMENTS_USAGE,
    async run(args, print) {
      const [action, id] = args;
      if (action !== 'revoke' || id === undefined) {
        print(`usage:\n${ARRANGEMENTS_USAGE}`);
        return 2;
      }
      const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
      if (!(await storeAnswers(ctx))) {
        print('the store does not answer (is Redis up?): nothing was revoked');
        return 1;
      }
      const result = await withdrawArrangement(ctx, id, log);
      if (!result.ended) {
        print(`arrangement ${id}: not a current arrangement (unknown, expired or already revoked)`);
        return 1;
      }
      print(`arrangement ${id} (client ${result.clientId}) revoked: its tokens are refused from now on`);
      if (result.notice === 'no_recipient') print('  the client has no recipient_base_uri: no notice sent');
      else if (result.notice === 'no_brand_id') print('  ecosystem.brandId is not set: no notice sent');
      else if (result.notice === 'queue_full') print('  the notice queue is full (ecosystem.recipients.maxPending): no notice sent');
      else if (result.queued) {
        const outcome = await notices().attempt(result.queued, log);
        print(`  notice to ${result.queued.url}: ${NOTICE_OUTCOMES[outcome]}`);
      }
      return 0;
    },
  };
}

const NOTICE_OUTCOMES = {
  delivered: 'delivered',
  abandoned: 'refused by the recipient (given up)',
  retry: 'not delivered yet; the gateway replicas retry with backoff',
  // A running replica found the queued notice first and is making the attempt itself.
  leased: 'a gateway replica is delivering it now',
} as const;

/** The CLI starts before its store connection is up: waits up to 10 s for it to answer. */
async function storeAnswers(ctx: GatewayContext): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      await ctx.store.ping();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return false;
}
