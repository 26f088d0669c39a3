import type { FastifyBaseLogger } from 'fastify';
import type { RegisteredClientRecord } from '../../../clients/registered-clients.js';
import type { GatewayContext } from '../../../context.js';
import { OAuthError } from '../../../oauth/errors.js';
import { arrangementServices } from '../revocation/withdraw.js';
import { standingOf, type RegisterStatuses, type Standing } from './statuses.js';

export const ADR_STATUS_NOT_ACTIVE = 'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive';

/**
 * Which clients the Register's statuses stop: every replica keeps the standing of each client whose
 * software product is not active, recomputed whenever the statuses change, so the hot paths ask
 * memory only. The replica that fetched the statuses ends a REMOVED product's arrangements (marked
 * ended by the Register, every token of them refused everywhere at once) and removes its registration;
 * the recipient is not notified (the Register told it).
 */
export class StatusGate {
  #stopped = new Map<string, Exclude<Standing, 'ACTIVE'>>();
  #log: FastifyBaseLogger | undefined;

  constructor(
    private readonly ctx: () => GatewayContext | undefined,
    private readonly onRefused?: () => void,
    private readonly onRemoved?: () => void,
  ) {}

  set log(log: FastifyBaseLogger) {
    this.#log = log;
  }

  refusal(clientId: string): OAuthError | undefined {
    const standing = this.#stopped.get(clientId);
    if (standing === undefined) return undefined;
    this.onRefused?.();
    const err = new OAuthError(ADR_STATUS_NOT_ACTIVE, `Software product status is ${standing}`, 403);
    err.audit = 'adr_status_not_active';
    return err;
  }

  /** Recomputes every client's standing; `polled`: this replica fetched the statuses and removes the REMOVED ones. */
  async apply(statuses: RegisterStatuses, polled: boolean): Promise<void> {
    const ctx = this.ctx();
    if (!ctx) return;
    const stopped = new Map<string, Exclude<Standing, 'ACTIVE'>>();
    const removed: Array<{ clientId: string; softwareId: string | undefined }> = [];
    const ending = new Set<string>();
    for (const client of ctx.clients.all()) {
      const standing = standingOf(statuses, client.metadata.software_id, client.metadata.legal_entity_id);
      if (standing !== 'ACTIVE') stopped.set(client.id, standing);
      if (standing === 'REMOVED') ending.add(client.id);
    }
    for (const clientId of await ctx.store.members('registered-clients')) {
      const record = await ctx.store.get<RegisteredClientRecord>('client', clientId);
      if (!record) continue;
      const standing = standingOf(statuses, record.registration.softwareId ?? record.metadata.software_id, record.metadata.legal_entity_id);
      if (standing === 'ACTIVE') continue;
      stopped.set(clientId, standing);
      if (standing === 'REMOVED') {
        removed.push({ clientId, softwareId: record.registration.softwareId });
        ending.add(clientId);
      }
    }
    this.#stopped = stopped;
    if (!polled) return;
    if (ending.size) await this.#endArrangements(ctx, ending);
    for (const { clientId, softwareId } of removed) {
      const record = await ctx.registrations.remove(clientId);
      if (!record) continue;
      this.onRemoved?.();
      this.#log?.warn({ audit: 'client_removed_by_register', clientId, softwareId }, 'client_removed_by_register');
    }
  }

  /** Ends the current arrangements of these clients (the Register removed their product), counted and logged one by one. */
  async #endArrangements(ctx: GatewayContext, clientIds: Set<string>): Promise<void> {
    const services = arrangementServices(ctx);
    if (!services) return;
    for (const ended of await services.arrangements.endAllOf(clientIds, 'register')) {
      services.metrics?.revocations.inc({ initiator: 'register', outcome: 'revoked' });
      this.#log?.warn({ audit: 'arrangement_revoked', initiator: 'register', client_id: ended.clientId, sub: ended.sub, arrangementId: ended.id, reason: 'software product removed by the CDR Register' }, 'arrangement_revoked');
    }
  }

  /** The standing of a software product now (registration refuses one that is not active). */
  standing(statuses: RegisterStatuses, softwareId: string | undefined, legalEntityId: string | undefined): Standing {
    return standingOf(statuses, softwareId, legalEntityId);
  }
}
