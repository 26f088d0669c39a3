import { createHash, randomBytes } from 'node:crypto';

/**
 * The hash chain of one audit stream. Every record ends with `"hash"`, the SHA-256 of the record's
 * text before it, and carries `prev`, the hash of the record before it, and `seq`, its number in the
 * chain: a record deleted, inserted or edited anywhere breaks the chain at that point (see verify.ts).
 * Each process starts its own chain (a random `chain` id, `seq` 0, `event: audit_chain_started`);
 * several replicas writing to one collector make one chain each, told apart by `replica` and `chain`.
 */
export const CHAIN_STARTED = 'audit_chain_started';
export const RECORDS_DROPPED = 'audit_records_dropped';

/** The fields the chain writes itself; a log call's fields of these names are not kept. */
export const CHAIN_FIELDS = ['stream', 'time', 'replica', 'chain', 'seq', 'prev', 'hash'] as const;

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface ChainedRecord {
  line: string;
  hash: string;
}

export class AuditChain {
  readonly id = randomBytes(9).toString('base64url');
  #seq = 0;
  #prev: string | null = null;

  constructor(readonly replica: string) {}

  /** The next record's text (without a newline); it joins the chain only once `commit` is called. */
  next(time: string, fields: Record<string, unknown>): ChainedRecord {
    const body: Record<string, unknown> = { stream: 'audit', time };
    for (const [key, value] of Object.entries(fields)) if (!(CHAIN_FIELDS as readonly string[]).includes(key)) body[key] = value;
    Object.assign(body, { replica: this.replica, chain: this.id, seq: this.#seq, prev: this.#prev });
    const text = JSON.stringify(body).slice(0, -1);
    const hash = sha256(text);
    return { line: `${text},"hash":"${hash}"}`, hash };
  }

  /** The record was written: the next one follows it. */
  commit(record: ChainedRecord): void {
    this.#seq++;
    this.#prev = record.hash;
  }
}

/** The hash a record states, and whether its text hashes to it; undefined for a line that is no chained record. */
export function checkRecordHash(line: string): { stated: string; intact: boolean } | undefined {
  const match = HASH_SUFFIX.exec(line);
  if (!match) return undefined;
  return { stated: match[1], intact: sha256(line.slice(0, match.index)) === match[1] };
}
