import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config/config-error.js';
import type { ConfigFile } from '../../config/schema.js';
import { logDestination, type SonicBoom } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { AuditSink, boundedWriter, type AuditWriter } from './sink.js';

export interface AuditStream {
  sink: AuditSink;
  /** The audit file's own writer, flushed at shutdown (absent when records share stdout). */
  destination?: SonicBoom;
}

/**
 * Where the audit stream goes: `audit.file` (its own bounded writer), else the JSON log's stdout
 * writer (records marked `"stream":"audit"`), else (a caller's own logger or pretty lines) no
 * separate stream: audit events stay in that log as they are, unless the caller gives a writer.
 */
export function auditStream(
  config: ConfigFile,
  logDestinationInUse: SonicBoom | undefined,
  metrics: Metrics | undefined,
  start: Record<string, unknown>,
  callerWriter?: { write(line: string): unknown },
): AuditStream | undefined {
  const { file, replica, maxBufferBytes } = config.audit;
  let destination: SonicBoom | undefined;
  let write: AuditWriter;
  if (callerWriter) {
    write = (line) => (callerWriter.write(line), true);
  } else if (file !== undefined) {
    destination = logDestination({ file, maxBufferBytes });
    write = boundedWriter(destination);
  } else if (logDestinationInUse) {
    write = boundedWriter(logDestinationInUse);
  } else {
    return undefined;
  }
  return { sink: new AuditSink(write, metrics, replica, start), ...(destination ? { destination } : {}) };
}

/** The file is opened asynchronously later: a file that cannot be written fails the start instead (and `check`). */
export function checkAuditFile({ file }: ConfigFile['audit']): void {
  if (file === undefined) return;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    closeSync(openSync(file, 'a'));
  } catch (err) {
    throw new ConfigError('audit.file', `cannot be opened for appending: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
