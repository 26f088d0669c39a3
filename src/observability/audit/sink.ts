import { hostname } from 'node:os';
import type { Metrics } from '../metrics.js';
import { AuditChain, CHAIN_STARTED, RECORDS_DROPPED } from './chain.js';
import { auditFields } from './record.js';
import type { SonicBoom } from '../logging.js';

/** Where audit records go: returns false when the record was dropped (the destination is full). */
export type AuditWriter = (line: string) => boolean;

/**
 * The audit stream: turns every log line carrying `audit` into a chained audit record and writes it
 * to its own destination. Writing never waits: a destination that does not keep up drops records,
 * which are counted (fapi_gateway_audit_records_dropped_total) and, once it accepts again, stated in
 * the chain by an `audit_records_dropped` record, so a verifier tells a known loss from a tampered file.
 */
export class AuditSink {
  readonly chain: AuditChain;
  #dropped = 0;

  constructor(
    private readonly write: AuditWriter,
    private readonly metrics: Metrics | undefined,
    replica = hostname(),
    start: Record<string, unknown> = {},
  ) {
    this.chain = new AuditChain(replica);
    this.#append({ event: CHAIN_STARTED, outcome: 'success', pid: process.pid, ...start });
  }

  /**
   * pino's `streamWrite` hook: an audit line is taken out of the log (an empty string is written
   * there instead) and written to the audit stream; every other line passes unchanged.
   */
  readonly route = (serialized: string): string => {
    if (!serialized.includes('"audit":')) return serialized;
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(serialized) as Record<string, unknown>;
    } catch {
      return serialized;
    }
    if (typeof line.audit !== 'string') return serialized;
    this.record(line);
    return '';
  };

  /** Writes one log line's audit event. */
  record(line: Record<string, unknown>): void {
    const fields = auditFields(line);
    this.metrics?.auditEvents.inc({ event: fields.event });
    if (this.#dropped > 0 && this.#append({ event: RECORDS_DROPPED, outcome: 'failure', count: this.#dropped })) this.#dropped = 0;
    if (!this.#append(fields, typeof line.time === 'string' ? line.time : undefined)) {
      this.#dropped++;
      this.metrics?.auditRecordsDropped.inc();
    }
  }

  #append(fields: Record<string, unknown>, time = new Date().toISOString()): boolean {
    const record = this.chain.next(time, fields);
    let written = false;
    try {
      written = this.write(`${record.line}\n`);
    } catch {
      // a destroyed destination (after shutdown): the record is lost like a dropped one
    }
    if (written) this.chain.commit(record);
    return written;
  }
}

/** An AuditWriter over a buffered destination that drops lines when full (logDestination). */
export function boundedWriter(destination: SonicBoom): AuditWriter {
  let dropped = false;
  // sonic-boom says so synchronously, from inside write().
  destination.on('drop', () => (dropped = true));
  return (line) => {
    dropped = false;
    destination.write(line);
    return !dropped;
  };
}
