import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { VerifiedTokenCache } from '../src/tokens/verified-token-cache.js';
import type { AccessTokenClaims } from '../src/tokens/access-token.js';

const claims = (exp: number) => ({ exp }) as AccessTokenClaims;
const now = () => Math.floor(Date.now() / 1000);

t.test('an entry is served until its token expires', async (t) => {
  const cache = new VerifiedTokenCache();
  t.teardown(() => cache.clear());
  const exp = now() + 100;
  cache.add('a', claims(exp));
  t.equal(cache.get('a', exp - 1)?.exp, exp);
  t.equal(cache.get('a', exp), undefined, 'expired at exp');
  t.equal(cache.get('a', exp - 1), undefined, 'and gone');
  t.equal(cache.get('b', 0), undefined);
});

t.test('bounded: the oldest entry goes first', async (t) => {
  const cache = new VerifiedTokenCache(2);
  const exp = now() + 100;
  cache.add('a', claims(exp));
  cache.add('b', claims(exp));
  cache.add('c', claims(exp));
  t.equal(cache.get('a', 0), undefined);
  t.ok(cache.get('b', 0));
  t.ok(cache.get('c', 0));
  cache.clear();
  t.equal(cache.get('c', 0), undefined);
});

t.test('nothing is kept past its token: expired entries go on the next add, and by themselves when idle', async (t) => {
  const cache = new VerifiedTokenCache();
  t.teardown(() => cache.clear());
  cache.add('old-1', claims(now() - 1));
  cache.add('old-2', claims(now() - 1));
  cache.add('live', claims(now() + 100));
  t.equal(cache.size, 1, 'expired entries at the old end dropped on add');
  cache.clear();
  cache.add('short', claims(now() + 1));
  t.equal(cache.size, 1);
  for (let waited = 0; waited < 10_000 && cache.size > 0; waited += 100) await sleep(100);
  t.equal(cache.size, 0, 'the entry is swept once its token has expired, with no further calls');
});
