/**
 * URLs as spans may show them. Query strings carry what must not leave the gateway (request_uri, state,
 * codes at /authorize and the callback pages; whatever an API puts there upstream): spans keep the path
 * and say a query was there.
 */
export function pathOnly(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}

/** The undici instrumentation's URL attributes, without the query string's values. */
export function outboundUrlAttributes(origin: string, path: string): Record<string, string> {
  const bare = pathOnly(path);
  const attributes: Record<string, string> = { 'url.full': origin + bare, 'url.path': bare, 'url.query': '' };
  if (bare.length !== path.length) attributes['url.query'] = '?redacted';
  return attributes;
}
