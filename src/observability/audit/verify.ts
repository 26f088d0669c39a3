import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CHAIN_STARTED, checkRecordHash, RECORDS_DROPPED } from './chain.js';

/** One chain's findings: where it breaks, and what it says it lost. */
export interface ChainReport {
  replica: string;
  chain: string;
  records: number;
  /** Records the gateway itself reported dropped (its destination was full): a known loss, not tampering. */
  dropped: number;
  problems: string[];
}

export interface VerifyReport {
  chains: ChainReport[];
  /** Lines that are audit records but not whole ones (truncated, or their hash is gone). */
  problems: string[];
  ok: boolean;
}

interface ChainState {
  report: ChainReport;
  seq: number;
  hash: string;
}

/**
 * Checks every audit chain in a file (stdout captured from one or many replicas, or an audit file;
 * other log lines are skipped): each chain starts with its start record, its `seq` has no gap, each
 * record's `prev` is the hash of the one before, and each record hashes to its `hash`. So a deleted,
 * inserted, reordered or edited record is found. Lines must be kept byte for byte (a shipper that
 * re-serialises JSON breaks every hash).
 */
export async function verifyAuditFile(file: string): Promise<VerifyReport> {
  const chains = new Map<string, ChainState>();
  const problems: string[] = [];
  let lineNumber = 0;
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    lineNumber++;
    if (!line.includes('"stream":"audit"')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      problems.push(`line ${lineNumber}: an audit record that is not whole JSON (truncated or edited)`);
      continue;
    }
    if (record.stream !== 'audit') continue;
    const hashed = checkRecordHash(line);
    const key = `${String(record.replica)} ${String(record.chain)}`;
    let state = chains.get(key);
    if (!state) {
      state = { report: { replica: String(record.replica), chain: String(record.chain), records: 0, dropped: 0, problems: [] }, seq: -1, hash: '' };
      chains.set(key, state);
    }
    const { report } = state;
    const where = `line ${lineNumber} (seq ${String(record.seq)})`;
    report.records++;
    if (!hashed) {
      report.problems.push(`${where}: no hash: not a record the gateway wrote`);
      continue;
    }
    if (!hashed.intact) report.problems.push(`${where}: edited (its content does not match its hash)`);
    const seq = typeof record.seq === 'number' ? record.seq : NaN;
    if (state.seq === -1) {
      if (seq !== 0 || record.event !== CHAIN_STARTED) report.problems.push(`${where}: the chain's first ${seq > 0 ? `${seq} records are` : 'record is'} missing (it does not begin with ${CHAIN_STARTED})`);
    } else if (seq !== state.seq + 1) {
      report.problems.push(
        seq > state.seq + 1
          ? `${where}: ${seq - state.seq - 1} record(s) missing before it (seq ${state.seq + 1}${seq - state.seq > 2 ? `..${seq - 1}` : ''})`
          : `${where}: out of order or repeated (after seq ${state.seq})`,
      );
    } else if (record.prev !== state.hash) {
      report.problems.push(`${where}: does not follow the record before it (that record was edited or replaced)`);
    }
    if (record.event === RECORDS_DROPPED && typeof record.count === 'number') report.dropped += record.count;
    state.seq = seq;
    state.hash = hashed.stated;
  }
  const reports = [...chains.values()].map((s) => s.report);
  return { chains: reports, problems, ok: problems.length === 0 && reports.every((r) => r.problems.length === 0) };
}

/** `fapi-gateway audit verify FILE`: prints each chain's result; 0 when every chain is intact. */
export async function auditCommand(args: string[], print: (line: string) => void): Promise<number> {
  const [verb, file] = args;
  if (verb !== 'verify' || !file) {
    print('usage: fapi-gateway audit verify FILE');
    return 2;
  }
  const report = await verifyAuditFile(file);
  if (report.chains.length === 0 && report.problems.length === 0) {
    print(`${file}: no audit records`);
    return 1;
  }
  for (const problem of report.problems) print(`${file}: ${problem}`);
  for (const chain of report.chains) {
    const lost = chain.dropped > 0 ? `, ${chain.dropped} record(s) dropped by the gateway (destination full)` : '';
    print(`replica ${chain.replica}, chain ${chain.chain}: ${chain.records} record(s), ${chain.problems.length === 0 ? 'intact' : 'BROKEN'}${lost}`);
    for (const problem of chain.problems) print(`  ${problem}`);
  }
  return report.ok ? 0 : 1;
}
