import t from 'tap';
import { VerifiedTokenCache } from '../src/tokens/verified-token-cache.js';
import type { AccessTokenClaims } from '../src/tokens/access-token.js';

const claims = (exp: number) => ({ exp }) as AccessTokenClaims;

t.test('an entry is served until its token expires', async (t) => {
  const cache = new VerifiedTokenCache();
  cache.add('a', claims(100));
  t.equal(cache.get('a', 99)?.exp, 100);
  t.equal(cache.get('a', 100), undefined, 'expired at exp');
  t.equal(cache.get('a', 99), undefined, 'and gone');
  t.equal(cache.get('b', 0), undefined);
});

t.test('bounded: the oldest entry goes first', async (t) => {
  const cache = new VerifiedTokenCache(2);
  cache.add('a', claims(100));
  cache.add('b', claims(100));
  cache.add('c', claims(100));
  t.equal(cache.get('a', 0), undefined);
  t.ok(cache.get('b', 0));
  t.ok(cache.get('c', 0));
  cache.clear();
  t.equal(cache.get('c', 0), undefined);
});
