import { requestTargetProblem } from '../http/request-target.js';
import { invalidRequest } from '../oauth/errors.js';

export interface UpstreamBase {
  /** scheme://host:port, what the connection pool is for. */
  origin: string;
  /** The path of the route's `upstream` URL without its trailing slash: '' or e.g. '/api'. */
  basePath: string;
}

export function upstreamBase(upstream: string): UpstreamBase {
  const url = new URL(upstream);
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

/**
 * The path and query the upstream receives for a request matched on `prefix`: the upstream's base
 * path, then the request's own (already checked) path, which starts with the prefix. Built from the
 * route and the checked path, never by resolving the raw target against the upstream, and checked
 * again once it is a URL: whatever reaches the upstream lies under the route it was authorised for.
 */
export function upstreamPath(target: string, prefix: string, base: UpstreamBase, narrower: readonly string[] = []): { path: string; query: string } {
  const problem = requestTargetProblem(target);
  if (problem !== undefined) throw invalidRequest(problem);
  const queryAt = target.indexOf('?');
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  const query = queryAt < 0 ? '' : target.slice(queryAt + 1);
  if (!underPrefix(path, prefix)) throw invalidRequest('the request path is not under the route it matched');
  if (narrower.length > 0) {
    // An upstream that ignores case or trailing dots (IIS, ASP.NET) reads `/accounts/ADMIN./x` as
    // `/accounts/admin/x`: a narrower route's path, which must not be reached under this route's scope.
    const loose = lenientPath(path);
    if (narrower.some((other) => underPrefix(loose, lenientPath(other))))
      throw invalidRequest("the request path is another route's path in another spelling");
  }
  const url = new URL(base.basePath + path, base.origin);
  if (url.origin !== base.origin || !underPrefix(url.pathname, base.basePath + prefix))
    throw invalidRequest('the request path is not under the route it matched');
  return { path: url.pathname, query };
}

/** The configured prefixes that lie under `prefix` (other routes' narrower paths). */
export function narrowerPrefixes(prefix: string, all: readonly string[]): string[] {
  return all.filter((other) => other !== prefix && underPrefix(other, prefix));
}

/** A path as a lenient server may read it: decoded, case folded, trailing dots of each segment dropped. */
function lenientPath(path: string): string {
  return path
    .split('/')
    .map((segment) => decodeURIComponent(segment).toLowerCase().replace(/\.+$/, ''))
    .join('/');
}

/** `/accounts` and `/accounts/…`, never `/accountsx`. */
function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}
