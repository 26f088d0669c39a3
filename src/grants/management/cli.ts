import pino from 'pino';
import { ConfigError } from '../../config/config-error.js';
import type { GatewayContext } from '../../context.js';
import { storeReady } from '../../registration/cli.js';
import { GrantManagement, type GrantView, type Initiator } from './grant-management.js';

export const GRANTS_USAGE = `  fapi-gateway grants list --sub SUB --config FILE          a customer's live grants
  fapi-gateway grants list --client CLIENT_ID --config FILE  a client's live customer grants
  fapi-gateway grants show ID --config FILE                  one grant and its life trail
  fapi-gateway grants withdraw ID [--initiator customer|bank] --config FILE   end a grant: its tokens are refused at once`;

/**
 * The operators' grant management, on the configured shared store: the admin API's operations
 * (src/grants/management/admin-api.ts) without a listener. Prints to `out`; returns the exit status.
 */
export async function grantsCommand(ctx: GatewayContext, args: string[], out: (line: string) => void): Promise<number> {
  if (ctx.config.store.type === 'memory') throw new ConfigError('store', 'the grants command acts on a shared store: configure store.type redis');
  await storeReady(ctx);
  const management = new GrantManagement(ctx);
  const count = (operation: string, outcome: string) => ctx.metrics?.grantManagement.inc({ surface: 'cli', operation, outcome });
  // Withdrawals are audited like the API's, as JSON lines on stderr (stdout is the command's answer).
  const log = pino({ base: { surface: 'cli' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
  const [action, ...rest] = args;
  switch (action) {
    case 'list': {
      const sub = option(rest, '--sub');
      const client = option(rest, '--client');
      if ((sub === undefined) === (client === undefined)) throw new ConfigError('grants list', 'needs exactly one of --sub SUB and --client CLIENT_ID');
      const grants = sub !== undefined ? await management.customerGrants(sub) : await management.clientGrants(client!);
      count(sub !== undefined ? 'list_customer' : 'list_client', 'success');
      for (const grant of grants) out(line(grant));
      if (grants.length === 0) out('no live grants');
      return 0;
    }
    case 'show': {
      const id = positional(rest, 'grants show');
      const [grant, trail] = await Promise.all([management.grant(id), management.trail(id)]);
      count('show', grant || trail ? 'success' : 'not_found');
      if (!grant && !trail) return notFound(id, out);
      out(JSON.stringify({ grant: grant ?? null, trail: trail ?? [] }, null, 2));
      return 0;
    }
    case 'withdraw': {
      const id = positional(rest, 'grants withdraw');
      const initiator = (option(rest, '--initiator') ?? 'bank') as Initiator;
      if (initiator !== 'bank' && initiator !== 'customer') throw new ConfigError('grants withdraw', '--initiator must be customer or bank');
      const grant = await management.withdraw(id, initiator, log);
      count('withdraw', grant ? 'success' : 'not_found');
      log.info(
        { audit: 'grant_withdrawn', grant_id: id, ...(grant ? { client_id: grant.client_id, sub: grant.sub } : {}), outcome: grant ? 'success' : 'not_found', reason: `withdrawn at the bank by the ${initiator}`, initiator },
        'grant_withdrawn',
      );
      if (!grant) return notFound(id, out);
      out(`withdrawn ${id}`);
      return 0;
    }
    default:
      throw new ConfigError('grants', `unknown action "${action ?? ''}" (list --sub SUB, list --client CLIENT_ID, show ID, withdraw ID)`);
  }
}

function line(grant: GrantView): string {
  const references = grant.references.map((r) => `${r.label}=${r.id}`).join(',');
  return [grant.grant_id, grant.client_id, grant.sub, grant.scopes.join(' '), grant.accounts.join(',') || '-', grant.created_at, grant.expires_at, references || '-'].join('\t');
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new ConfigError(`grants ${name}`, 'needs a value');
  return value;
}

function positional(args: string[], command: string): string {
  const id = args[0];
  if (!id || id.startsWith('--')) throw new ConfigError(command, 'needs a grant id');
  return id;
}

function notFound(id: string, out: (line: string) => void): number {
  out(`no live grant or trail "${id}"`);
  return 1;
}
