import { createHash } from 'node:crypto';
import type { Store } from '../../../store/store.js';
import { OfbError } from './ofb-error.js';

/** How long a key's answer is kept (OFB: idempotency keys hold for 24 hours). */
const KEEP_SECONDS = 86_400;
/** OFB: x-idempotency-key, at most 40 characters, no leading or trailing space. */
const KEY = /^(?!\s)[\x20-\x7e]{0,39}[\x21-\x7e]$/;

export interface StoredAnswer {
  bodyDigest: string;
  /** Absent while the first request with the key is being processed. */
  status?: number;
  contentType?: string;
  body?: string;
}

export type Claimed =
  | { kind: 'new'; finish(status: number, contentType: string, body: string): Promise<void>; release(): Promise<void> }
  | { kind: 'replay'; answer: Required<StoredAnswer> };

/**
 * The answers to idempotent requests: the same key with the same body gets the first answer again;
 * with another body, 422 ERRO_IDEMPOTENCIA. Keys are per client, bounded in length, kept 24 hours.
 */
export class IdempotencyKeys {
  constructor(private readonly store: Store) {}

  static check(key: string | string[] | undefined): string {
    if (key === undefined) throw new OfbError(400, 'PARAMETRO_NAO_INFORMADO', 'the x-idempotency-key header is required');
    if (typeof key !== 'string' || !KEY.test(key)) throw new OfbError(400, 'PARAMETRO_INVALIDO', 'x-idempotency-key must be 1 to 40 printable characters');
    return key;
  }

  /** A replayed answer, a refusal, or undefined for a key not seen yet (call `claim` to take it). */
  async lookup(clientId: string, key: string, body: string): Promise<Required<StoredAnswer> | undefined> {
    const stored = await this.store.get<StoredAnswer>('idempotency', `${clientId}\u0000${key}`);
    return stored ? replayOf(stored, digest(body)) : undefined;
  }

  async claim(clientId: string, key: string, body: string): Promise<Claimed> {
    const id = `${clientId}\u0000${key}`;
    const bodyDigest = digest(body);
    if (!(await this.store.setIfAbsent('idempotency', id, { bodyDigest } satisfies StoredAnswer, KEEP_SECONDS))) {
      const stored = await this.store.get<StoredAnswer>('idempotency', id);
      if (stored) return { kind: 'replay', answer: replayOf(stored, bodyDigest) };
    }
    return {
      kind: 'new',
      finish: (status, contentType, responseBody) =>
        this.store.set('idempotency', id, { bodyDigest, status, contentType, body: responseBody } satisfies StoredAnswer, KEEP_SECONDS),
      // Nothing was answered (a failure of ours): the key is free again.
      release: () => this.store.delete('idempotency', id),
    };
  }
}

function replayOf(stored: StoredAnswer, bodyDigest: string): Required<StoredAnswer> {
  if (stored.bodyDigest !== bodyDigest) throw new OfbError(422, 'ERRO_IDEMPOTENCIA', 'this x-idempotency-key was used with another request body');
  if (stored.status === undefined) throw new OfbError(422, 'ERRO_IDEMPOTENCIA', 'the request with this x-idempotency-key is still being processed');
  return stored as Required<StoredAnswer>;
}

const digest = (body: string) => createHash('sha256').update(body).digest('base64url');
