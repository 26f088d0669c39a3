import type { StoreProblemCause } from './store.js';

/** How the store's own deadline words a call that got no answer in time. */
export const NO_ANSWER = 'no answer from Redis within';

const AUTH_REPLY = /^(WRONGPASS|NOAUTH)\b/;
const BUSY_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|MISCONF)\b/;
// ioredis' own words for "no connection to send on": they say nothing of why; the last connection error does.
const GENERIC = /^(Stream isn't writeable|Connection is closed|Connection in subscriber mode|None of startup nodes is available|Failed to refresh slots cache)/;

/**
 * What an error of the Redis client means for an operator. Undefined when the error itself does not
 * say (the client has no connection): then the last connection error names the cause.
 */
export function redisCause(err: unknown): StoreProblemCause | undefined {
  if (!(err instanceof Error)) return undefined;
  const { message } = err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (AUTH_REPLY.test(message)) return 'authentication failed';
  if (/^NOPERM\b/.test(message)) return 'permission denied';
  // maxmemory reached under noeviction: every write is refused until keys expire or memory is added.
  if (/^OOM\b/.test(message)) return 'out of memory';
  if (BUSY_REPLY.test(message)) return 'server busy';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'unknown host';
  if (code === 'ETIMEDOUT' || message === 'Command timed out' || message.startsWith(NO_ANSWER) || /^connect ETIMEDOUT/.test(message)) return 'not responding';
  if (/^ERR_(TLS|SSL)_/.test(code) || /certificate|SSL routines|TLS/i.test(message)) return 'TLS handshake failed';
  if (GENERIC.test(message)) return undefined;
  return 'unreachable';
}
