import t from 'tap';
import fc from 'fast-check';
import { requestTargetProblem } from '../src/http/request-target.js';
import { upstreamBase, upstreamPath } from '../src/gateway/upstream-path.js';

// Whatever a target is made of, the path that reaches the upstream is the checked one, under the
// route's prefix, and no server that decodes it, reads `\` as `/` or drops `;params` finds a dot
// segment in it.

const base = upstreamBase('http://upstream.internal:8080/api/v1/');
// Characters that take part in path tricks, plus ordinary ones.
const piece = fc.constantFrom('.', '..', '/', '\\', '%', '%2e', '%2E', '%2f', '%5c', '%25', '%00', '%3b', ';', '2', 'e', 'f', '5', 'c', 'a', '~', '?', '%zz', '%41');
const tail = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));

/** How lenient servers read a path: decode repeatedly, `\` as `/`, `;params` dropped from each segment. */
function leniently(path: string): string[] {
  let decoded = path;
  for (let i = 0; i < 3; i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      break;
    }
  }
  return decoded.replaceAll('\\', '/').split('/').map((segment) => segment.split(';')[0]);
}

t.test('an accepted target keeps its prefix, its base path and no dot segment, however it is read', async (t) => {
  fc.assert(
    fc.property(tail, (rest) => {
      const target = `/accounts/${rest}`;
      const problem = requestTargetProblem(target);
      if (problem !== undefined) return;
      const { path } = upstreamPath(target, '/accounts', base);
      const own = target.split('?')[0];
      t.equal(path, `/api/v1${own}`, `${target} reaches the upstream unchanged`);
      t.ok(path === '/api/v1/accounts' || path.startsWith('/api/v1/accounts/'), `${target} stays under the prefix`);
      t.notOk(leniently(own).some((segment) => segment === '.' || segment === '..'), `${target} has no dot segment however it is read`);
    }),
    { numRuns: 3000 },
  );
});

t.test('refused targets', async (t) => {
  for (const target of [
    'http://evil.example/accounts',
    '*',
    '/accounts/..',
    '/accounts/.',
    '/accounts/%2e%2e',
    '/accounts/.%2E',
    '/accounts/a\\b',
    '/accounts/a%5cb',
    '/accounts/a%2fb',
    '/accounts/%252e%252e',
    '/accounts/..;x',
    '/accounts/admin;x/users',
    '/accounts/a%3Bb',
    '/accounts//a',
    '/accounts/%zz',
    '/accounts?q=%z',
    '/accounts?q=%',
    '/accounts/%ff',
    '/accounts/a%00',
  ])
    t.type(requestTargetProblem(target), 'string', target);
  for (const target of ['/', '/par', '/accounts', '/accounts/', '/accounts/a-b_c~d/', '/authorize?client_id=a&x=b+c', '/accounts/a.b', '/accounts/...', '/accounts/%41?q=%2e%2e&r=%ff', '/.well-known/openid-configuration'])
    t.equal(requestTargetProblem(target), undefined, target);
});

t.test('a path matched on another spelling of the prefix is refused, not forwarded', async (t) => {
  for (const target of ['/%61ccounts/1', '/Accounts/1', '/accountsx/1', '/payments/1']) {
    let thrown: unknown;
    try {
      upstreamPath(target, '/accounts', base);
    } catch (err) {
      thrown = err;
    }
    t.match(thrown, { error: 'invalid_request', status: 400 }, target);
  }
});
