import type { GatewayContext } from '../context.js';
import type { Grant } from './grant.js';
import type { SequenceStep } from '../store/store.js';
import { randomToken, storageKey } from '../tokens/secrets.js';

/** What an authorization code stands for, stored under the code's hash for the code's short life. */
export interface CodeRecord {
  grantId: string;
  /** The grant as created with the code, so redeeming needs no second read. */
  grant: Grant;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  nonce?: string;
  /** The DPoP key the code is bound to (RFC 9449 §10): only a proof with it can redeem the code. */
  dpopJkt?: string;
  /** Seconds since the epoch when the code expires (set when it is saved). */
  expiresAt?: number;
}

export const newCode = (): string => randomToken();

export function saveCode(ctx: GatewayContext, code: string, record: CodeRecord): Promise<void> {
  const lifetime = ctx.profile.lifetimes.code;
  return ctx.store.set('code', storageKey(code), { ...record, expiresAt: Math.floor(Date.now() / 1000) + lifetime }, lifetime);
}

/** Deletes a code that was written but must not be used. */
export function discardCode(ctx: GatewayContext, code: string): Promise<void> {
  return ctx.store.delete('code', storageKey(code));
}

export function findCode(ctx: GatewayContext, code: string): Promise<CodeRecord | undefined> {
  return ctx.store.get<CodeRecord>('code', storageKey(code));
}

/** The code's record as this replica saved or read it, if it did (Store.copy): a redemption from it guards on the code in its sequence. */
export function copiedCode(ctx: GatewayContext, code: string): CodeRecord | undefined {
  return ctx.store.copy?.<CodeRecord>('code', storageKey(code));
}

/**
 * Marks a code as redeemed. Atomic across replicas: of any number of concurrent redemptions exactly
 * one gets true. The code record itself stays until it expires, so a second redemption is recognised
 * as reuse (and the grant revoked) rather than as an unknown code.
 */
export function markRedeemed(ctx: GatewayContext, code: string, record: CodeRecord): Promise<boolean> {
  const mark = redemptionMark(ctx, code, record);
  return ctx.store.setIfAbsent(mark.set, mark.id, mark.value, mark.ttlSeconds);
}

/** markRedeemed as a step of a sequence: it stops the sequence when the code was redeemed before. */
export function redemptionMark(ctx: GatewayContext, code: string, record: CodeRecord): Extract<SequenceStep, { set: unknown }> {
  // Kept while the code record lives (a reuse can only be recognised while the code is found), no longer.
  const codeLeft = record.expiresAt === undefined ? ctx.profile.lifetimes.code : record.expiresAt - Math.floor(Date.now() / 1000);
  return { set: 'code-redeemed', id: storageKey(code), value: record.grantId, ttlSeconds: Math.max(1, codeLeft), ifAbsent: true };
}
