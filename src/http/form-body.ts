import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../oauth/errors.js';

export type FormParams = Record<string, string>;

/**
 * Strict `application/x-www-form-urlencoded` parsing for OAuth endpoints: UTF-8 only, a parameter may
 * appear once (RFC 6749 §3.1), and a parameter sent without a value counts as omitted.
 */
export function parseForm(body: string): FormParams {
  const params: FormParams = Object.create(null);
  if (body.length === 0) return params;
  for (const pair of body.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    if (name in params) throw new OAuthError('invalid_request', `parameter "${name}" is repeated`);
    params[name] = value;
  }
  for (const name of Object.keys(params)) if (params[name] === '') delete params[name];
  return params;
}

function decode(component: string): string {
  // Most components (a client assertion, a code challenge) have nothing to decode, and
  // decodeURIComponent returns such a string unchanged: skip its cost, which is per character.
  if (!component.includes('%')) return component.includes('+') ? component.replace(/\+/g, ' ') : component;
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError('invalid_request', 'the form body is not valid UTF-8 URL-encoding');
  }
}

/** Registers the strict form parser on an encapsulated Fastify scope. */
export function useStrictForms(app: FastifyInstance, bodyLimit: number): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
    try {
      done(null, parseForm(decodeBody(body as Buffer)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

// Read as bytes and decoded strictly: a string parser would turn bytes that are not UTF-8 into
// U+FFFD and let them through as parameter values.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeBody(body: Buffer): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new OAuthError('invalid_request', 'the form body is not valid UTF-8');
  }
}

/** The parsed form of a request; an absent body is an empty form. */
export function formParams(request: { body: unknown }): FormParams {
  return (request.body as FormParams | undefined) ?? Object.create(null);
}
