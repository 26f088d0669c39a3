import { request, type Agent } from 'undici';
import type { Harness, Response } from '../helpers/harness.js';
import { readResponse } from '../helpers/harness.js';

/**
 * What a well-formed answer looks like for each kind of endpoint:
 * - `oauth`: JSON; a 4xx carries an `error` string and `Cache-Control: no-store`;
 * - `resource`: a protected resource (UserInfo, a proxied route); a 4xx the gateway makes is JSON with an `error` string;
 * - `json`: public metadata (discovery, JWKS); JSON, errors with an `error` string;
 * - `page`: what a browser sees; HTML pages or redirects (the JSON 404/405 of unknown paths and methods too).
 */
export type AnswerKind = 'oauth' | 'resource' | 'json' | 'page';

export interface Sent {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** The ways `res` breaks the suite's rules; empty when it is well-formed. */
export function problemsWith(res: Response, kind: AnswerKind, method: string): string[] {
  const problems: string[] = [];
  const header = (name: string) => String(res.headers[name] ?? '');
  if (res.status >= 500 && !isShed(res)) problems.push(`status ${res.status}`);
  if (!res.headers.date) problems.push('no Date header');
  const type = header('content-type');
  const isJson = /^application\/json\b/i.test(type);
  const isHtml = /^text\/html\b/i.test(type);
  const hasBody = method !== 'HEAD' && res.status !== 204 && res.status !== 304;
  const isError = res.status >= 400;
  const jsonError = () => {
    if (!isJson) problems.push(`${res.status} is ${type || 'untyped'}, not JSON`);
    else if (typeof res.json?.error !== 'string') problems.push(`${res.status} JSON has no error string`);
  };
  if (!hasBody) return problems;
  switch (kind) {
    case 'oauth':
      if (isError) {
        jsonError();
        if (!/no-store/.test(header('cache-control'))) problems.push(`${res.status} without Cache-Control: no-store`);
      } else if (!isJson) problems.push(`${res.status} is ${type || 'untyped'}, not JSON`);
      break;
    case 'json':
      if (isError) jsonError();
      else if (!isJson && !/^application\/(jwk-set\+)?json/.test(type)) problems.push(`${res.status} is ${type}, not JSON`);
      break;
    case 'resource':
      // Upstream answers pass through as they are; only the gateway's own refusals are checked.
      if (isError && !res.headers['x-upstream']) jsonError();
      break;
    case 'page':
      if (res.status >= 300 && res.status < 400) {
        if (!res.headers.location) problems.push(`${res.status} without Location`);
      } else if (isError && isJson) jsonError();
      else if (!isHtml) problems.push(`${res.status} is ${type || 'untyped'}, not HTML`);
      break;
  }
  return problems;
}

/** Load shedding may answer 503 with Retry-After on a busy machine; that is the documented refusal, not a failure. */
export function isShed(res: Response): boolean {
  return res.status === 503 && res.headers['retry-after'] !== undefined && res.json?.error === 'temporarily_unavailable';
}

/** Sends one request; a transport failure becomes a pseudo-response with status 0 and the error text. */
export async function send(dispatcher: Agent, sent: Sent): Promise<Response> {
  try {
    const res = await request(sent.url, {
      method: sent.method as never,
      headers: sent.headers,
      body: sent.method === 'GET' || sent.method === 'HEAD' ? undefined : sent.body,
      dispatcher,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return await readResponse(res);
  } catch (err) {
    return { status: 0, headers: {}, text: String((err as Error)?.stack ?? err), json: undefined };
  }
}

/** Error-level lines (error and fatal) logged since the last call; the log buffer is emptied. */
export function takeErrorLogs(h: Harness): string[] {
  const errors = h.logs.filter((line) => {
    try {
      const { level } = JSON.parse(line) as { level?: string };
      return level === 'error' || level === 'fatal';
    } catch {
      return true; // not JSON: something wrote to the log stream behind pino's back
    }
  });
  h.logs.length = 0;
  return errors;
}

/** Throws with a readable account of the request and answer when something is wrong (fast-check reports it). */
export function expectWellFormed(h: Harness, sent: Sent, res: Response, kind: AnswerKind): void {
  const problems = res.status === 0 ? [`no answer: ${res.text.split('\n')[0]}`] : problemsWith(res, kind, sent.method);
  const errors = takeErrorLogs(h);
  if (errors.length > 0) problems.push(`error logged: ${errors.map((l) => l.slice(0, 600)).join(' | ')}`);
  if (problems.length === 0) return;
  const body = sent.body === undefined ? '' : Buffer.isBuffer(sent.body) ? `<${sent.body.length} bytes>` : sent.body.length > 300 ? `${sent.body.slice(0, 300)}…(${sent.body.length} chars)` : sent.body;
  throw new Error(
    `${problems.join('; ')}\n  request: ${sent.method} ${sent.url.slice(0, 300)} ${JSON.stringify(sent.headers ?? {}).slice(0, 600)} ${JSON.stringify(body)}\n  answer: ${res.status} ${JSON.stringify(res.headers).slice(0, 400)} ${res.text.slice(0, 300)}`,
  );
}

/**
 * Why a URL the upstream received is outside the route, or undefined: decoded segment by segment, it must
 * start with `prefix` and hold no dot segments or encoded slashes (the gateway authorized the decoded path).
 */
export function upstreamPathProblem(url: string, prefix: string): string | undefined {
  const segments = url.split('?')[0].split('/').map(safeDecode);
  const decoded = segments.join('/');
  if (decoded !== prefix && !decoded.startsWith(`${prefix}/`)) return `the upstream received ${url}, outside ${prefix}`;
  if (segments.some((s) => s === '.' || s === '..' || s.includes('/') || s.includes('\\')))
    return `the upstream received ${url}, with a dot segment or an encoded separator`;
  return undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
