import type { FastifyBaseLogger } from 'fastify';
import type { GatewayContext } from '../../context.js';
import type { Grant } from '../grant.js';
import { grantEnd } from '../grant-lifetime.js';
import { readTrail, type TrailEntry } from './trail.js';

/** A grant as the bank's dashboards see it (docs/grant-management.yaml, `Grant`). */
export interface GrantView {
  grant_id: string;
  client_id: string;
  client_name?: string;
  sub: string;
  scopes: string[];
  /** The accounts the customer chose at consent. */
  accounts: string[];
  created_at: string;
  expires_at: string;
  /** The ecosystem's ids for it (a CDR arrangement, a Brazil consent), labelled `<pack>.<field>`. */
  references: { label: string; id: string }[];
}

export interface TrailEventView {
  at: string;
  event: TrailEntry['event'];
  by?: TrailEntry['by'];
  scope?: string;
}

export type Initiator = 'customer' | 'bank';

/** Grants read at once while listing: a client may have many, and each is one store read. */
const READ_BATCH = 100;

/** The bank's operations on its customers' grants: shared by the admin API and the CLI. */
export class GrantManagement {
  constructor(private readonly ctx: GatewayContext) {}

  /** A customer's live grants (by the subject the bank knows the customer by). */
  customerGrants(sub: string, limit = Infinity): Promise<GrantView[]> {
    return this.#list('customer', sub, limit);
  }

  /** A client's live customer grants. */
  clientGrants(clientId: string, limit = Infinity): Promise<GrantView[]> {
    return this.#list('client', clientId, limit);
  }

  async grant(id: string): Promise<GrantView | undefined> {
    const grant = await this.ctx.grants.get(id);
    return grant && this.view(grant);
  }

  /** The grant's life, while its trail is kept (undefined when none is known). */
  async trail(id: string): Promise<TrailEventView[] | undefined> {
    const live = (await this.ctx.grants.get(id)) !== undefined;
    const entries = await readTrail(this.ctx.store, id, live);
    if (entries.length === 0) return undefined;
    return entries.map(({ at, event, by, scope }) => ({ at: new Date(at).toISOString(), event, ...(by ? { by } : {}), ...(scope !== undefined ? { scope } : {}) }));
  }

  /**
   * Ends a grant at the bank: every token of it is refused from now on, on every replica (the end's
   * marker is in the shared store, which every token check reads); then the ecosystem hears of it.
   * Undefined when there is no such live grant.
   */
  async withdraw(id: string, initiator: Initiator, log: FastifyBaseLogger): Promise<GrantView | undefined> {
    const grant = await this.ctx.grants.get(id);
    if (!grant) return undefined;
    await this.ctx.grants.end(id, { event: 'withdrawn', by: initiator });
    await this.ctx.grants.unindex(grant);
    try {
      await this.ctx.hooks.onGrantWithdrawn?.({ grant, initiator });
    } catch (err) {
      // The grant has ended whatever the ecosystem's follow-up does; an operator must see it failed.
      log.error({ err, grant_id: id, client_id: grant.clientId }, 'the ecosystem could not complete a grant withdrawal');
    }
    return this.view(grant);
  }

  view(grant: Grant): GrantView {
    const client = this.ctx.clients.cached(grant.clientId);
    const name = client?.metadata.client_name;
    return {
      grant_id: grant.id,
      client_id: grant.clientId,
      ...(typeof name === 'string' ? { client_name: name } : {}),
      sub: grant.sub,
      scopes: grant.scope.split(' ').filter(Boolean),
      accounts: (grant as Grant & { accountIds?: string[] }).accountIds ?? [],
      created_at: new Date(grant.createdAt * 1000).toISOString(),
      expires_at: new Date(grantEnd(grant, this.ctx.grants.lifetimes) * 1000).toISOString(),
      references: grantReferences(grant),
    };
  }

  async #list(by: 'customer' | 'client', key: string, limit: number): Promise<GrantView[]> {
    const ids = await this.ctx.grants.indexed(by, key);
    const found: Grant[] = [];
    for (let i = 0; i < ids.length && found.length < limit; i += READ_BATCH) {
      const batch = ids.slice(i, i + READ_BATCH);
      const grants = await Promise.all(batch.map((id) => this.ctx.grants.get(id)));
      // A grant that has ended or expired leaves its indexes as it is found gone.
      const gone = batch.filter((_, j) => grants[j] === undefined);
      if (gone.length) await Promise.all(gone.map((id) => this.ctx.grants.unindex(by === 'customer' ? { id, sub: key, clientId: '' } : { id, sub: '', clientId: key })));
      for (const grant of grants) if (grant && (by === 'customer' ? grant.sub === key : grant.clientId === key)) found.push(grant);
    }
    return found
      .slice(0, limit)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((grant) => this.view(grant));
  }
}

/**
 * The ecosystems' ids of a grant, read generically from its extensions: every string member whose
 * name ends in `Id` (e.g. `cdr.arrangementId`, `brazil.consentId`), so no pack needs to say.
 */
export function grantReferences(grant: Grant): { label: string; id: string }[] {
  const references: { label: string; id: string }[] = [];
  for (const [pack, value] of Object.entries(grant.extensions ?? {})) {
    if (typeof value === 'string' && /Id$/.test(pack)) references.push({ label: pack, id: value });
    else if (value && typeof value === 'object' && !Array.isArray(value))
      for (const [field, id] of Object.entries(value as Record<string, unknown>)) if (typeof id === 'string' && /Id$/.test(field)) references.push({ label: `${pack}.${field}`, id });
  }
  return references;
}
