/**
 * The audit stream's one vocabulary. Audit events are ordinary log calls carrying an `audit` field
 * (`log.info({ audit: 'token_issued', client_id, ... }, 'token_issued')`); this turns such a log
 * line into an audit record: `event`, `outcome`, `client_id`, `sub`, `grant_id`, `interaction_id`,
 * `reason` first, every other field in snake_case, older field names (clientId, reqId) mapped.
 */

/** Older or framework names of the vocabulary's fields. */
const RENAMED: Record<string, string> = {
  audit: 'event',
  clientId: 'client_id',
  grantId: 'grant_id',
  // Every request's id is its FAPI interaction id (the x-fapi-interaction-id it came with, or a new one).
  reqId: 'interaction_id',
  interactionId: 'interaction_id',
};

/** Fields of a log line that say nothing about the event (the chain names the replica instead). */
const DROPPED = new Set(['pid', 'hostname', 'level', 'time', 'msg', 'stream']);

const VOCABULARY = ['event', 'outcome', 'client_id', 'sub', 'grant_id', 'interaction_id', 'reason'] as const;

export type AuditFields = Record<string, unknown> & { event: string; outcome: string };

/** Levels a log call uses for refusals and failures: the event's outcome unless it names one. */
const FAILURE_LEVELS = new Set(['warn', 'error', 'fatal', 40, 50, 60]);

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function auditFields(line: Record<string, unknown>): AuditFields {
  const renamed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(line)) {
    if (DROPPED.has(name) || value === undefined) continue;
    const key = RENAMED[name] ?? snakeCase(name);
    // The newer name wins where a line carries both.
    if (!(key in renamed) || name === key) renamed[key] = value;
  }
  renamed.event = String(renamed.event);
  renamed.outcome ??= FAILURE_LEVELS.has(line.level as string) ? 'failure' : 'success';
  if (typeof line.msg === 'string' && line.msg !== renamed.event) renamed.message = line.msg;
  const ordered: Record<string, unknown> = {};
  for (const key of VOCABULARY) if (renamed[key] !== undefined) ordered[key] = renamed[key];
  return Object.assign(ordered, renamed) as AuditFields;
}
