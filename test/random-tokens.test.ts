// Random values come from a pool refilled 4 KiB at a time: every value is new, of the asked size,
// across refills too.
import t from 'tap';
import { randomBase64url, randomToken } from '../src/tokens/secrets.js';

t.test('tokens: 256 bits, base64url, never repeated, across many pool refills', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    seen.add(randomToken());
    // Small draws in between shift where the tokens fall in the pool.
    if (i % 3 === 0) randomBase64url(4);
  }
  t.equal(seen.size, 5000, 'no value twice');
  t.match(randomToken(), /^[A-Za-z0-9_-]{43}$/, '32 bytes');
  t.match(randomBase64url(16), /^[A-Za-z0-9_-]{22}$/, '16 bytes');
  t.match(randomBase64url(4096), /^[A-Za-z0-9_-]{5462}$/, 'a whole pool');
});
