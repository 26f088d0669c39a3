import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import type { Store } from '../../src/store/store.js';

export const id = () => randomUUID();

/** Resolves when `check` first succeeds; rejects with its last error after `ms`. */
export async function eventually(check: () => Promise<unknown>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/** Bounds a call that must not hang: a timeout is a plain Error, so a class check on it fails. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The contract every Store backend must keep; run against each of them. */
export async function storeSuite(t: Test, store: Store): Promise<void> {
  await t.test('set then get returns the value', async (t) => {
    const k = id();
    const value = { sub: 'alice', scopes: ['openid', 'accounts'], n: 3, nested: { ok: true }, none: null };
    await store.set('grant', k, value, 60);
    t.same(await store.get('grant', k), value);
    t.equal(await store.get('grant', id()), undefined, 'an unknown id is undefined');
    await store.set('grant', k, { replaced: 1 }, 60);
    t.same(await store.get('grant', k), { replaced: 1 }, 'set overwrites');
  });

  await t.test('getMany reads several records in the order asked', async (t) => {
    const [a, b] = [id(), id()];
    await store.set('par', a, { v: 'a' }, 60);
    await store.set('session', b, ['b'], 60);
    t.same(await store.getMany([['par', a], ['par', b], ['session', b], ['par', a]]), [{ v: 'a' }, undefined, ['b'], { v: 'a' }], 'each key its value, undefined when absent');
    t.same(await store.getMany([]), [], 'no keys, no values');
    const [read] = await store.getMany<[{ v: string }]>([['par', a]]);
    read!.v = 'changed after read';
    t.same(await store.get('par', a), { v: 'a' }, 'the values are copies');
  });

  await t.test('kinds are separate namespaces', async (t) => {
    const k = id();
    await store.set('code', k, 'a code', 60);
    t.equal(await store.get('refresh', k), undefined);
    t.equal(await store.get('code', k), 'a code');
  });

  await t.test('values are copies', async (t) => {
    const k = id();
    const original = { list: [1, 2], inner: { v: 'x' } };
    await store.set('session', k, original, 60);
    original.list.push(3);
    original.inner.v = 'changed before read';
    const read = await store.get<typeof original>('session', k);
    t.same(read, { list: [1, 2], inner: { v: 'x' } }, 'changing the written object changes nothing stored');
    read!.list.push(99);
    read!.inner.v = 'changed after read';
    t.same(await store.get('session', k), { list: [1, 2], inner: { v: 'x' } }, 'changing a read object changes nothing stored');
  });

  await t.test('records expire after their TTL', async (t) => {
    const [plain, once] = [id(), id()];
    await store.set('par', plain, { v: 1 }, 1);
    t.equal(await store.setIfAbsent('jti', once, 1, 1), true, 'setIfAbsent writes a new record');
    t.equal(await store.setIfAbsent('jti', once, 2, 1), false, 'setIfAbsent refuses a live one');
    t.same(await store.get('par', plain), { v: 1 });
    t.equal(await store.anyExists([['par', plain]]), true);
    await sleep(1_200);
    t.equal(await store.get('par', plain), undefined, 'get after expiry');
    t.same(await store.getMany([['par', plain]]), [undefined], 'getMany after expiry');
    t.equal(await store.consume('par', plain), undefined, 'consume after expiry');
    t.equal(await store.anyExists([['par', plain], ['jti', once]]), false, 'anyExists after expiry');
    t.equal(await store.setIfAbsent('jti', once, 3, 60), true, 'setIfAbsent writes again once expired');
    t.equal(await store.get('jti', once), 3);
  });

  await t.test('consume returns the record once', async (t) => {
    const k = id();
    await store.set('code', k, { grant: 'g1' }, 60);
    t.same(await store.consume('code', k), { grant: 'g1' });
    t.equal(await store.consume('code', k), undefined);
    t.equal(await store.get('code', k), undefined);
  });

  await t.test('200 concurrent consumers: exactly one gets the record', async (t) => {
    const k = id();
    await store.set('code', k, { grant: 'g2' }, 60);
    const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('code', k)));
    const winners = results.filter((r) => r !== undefined);
    t.equal(winners.length, 1);
    t.same(winners[0], { grant: 'g2' });
  });

  await t.test('200 concurrent setIfAbsent: exactly one writes', async (t) => {
    const k = id();
    const results = await Promise.all(Array.from({ length: 200 }, (_, n) => store.setIfAbsent('code-redeemed', k, { n }, 60)));
    const winners = results.flatMap((won, n) => (won ? [n] : []));
    t.equal(winners.length, 1);
    t.same(await store.get('code-redeemed', k), { n: winners[0] }, "the winner's value is stored");
  });

  await t.test('anyExists with zero, one and several keys', async (t) => {
    const [a, b, c] = [id(), id(), id()];
    t.equal(await store.anyExists([]), false, 'no keys');
    t.equal(await store.anyExists([['revoked-at', a]]), false, 'one missing key');
    await store.set('revoked-at', a, 1, 60);
    t.equal(await store.anyExists([['revoked-at', a]]), true, 'one live key');
    t.equal(await store.anyExists([['grant-ended', b], ['revoked-at', c]]), false, 'several missing keys');
    t.equal(await store.anyExists([['grant-ended', b], ['revoked-at', a], ['revoked-at', c]]), true, 'one live among several');
    t.equal(await store.anyExists([['grant-ended', a]]), false, 'same id, other kind');
  });

  await t.test('delete removes a record; deleting a missing one is fine', async (t) => {
    const k = id();
    await store.set('interaction', k, { step: 'login' }, 60);
    await store.delete('interaction', k);
    t.equal(await store.get('interaction', k), undefined);
    t.equal(await store.anyExists([['interaction', k]]), false);
    await t.resolves(store.delete('interaction', k));
  });

  await t.test('sequence: steps in order, stopping at the first live record it must not find', async (t) => {
    const [a, b, c, d] = [id(), id(), id(), id()];
    t.same(await store.sequence([]), [], 'no steps');
    t.same(
      await store.sequence([
        { set: 'grant', id: a, value: { v: 1 }, ttlSeconds: 60 },
        { set: 'jti', id: b, value: 1, ttlSeconds: 60, ifAbsent: true },
        { absent: 'grant-ended', id: a },
        { addMember: 'arrangements', member: c, max: 1_000_000 },
        { addMember: 'arrangements', member: c, max: 1_000_000 },
      ]),
      [true, true, true, 'added', 'present'],
      'every step runs',
    );
    t.same(await store.get('grant', a), { v: 1 });
    t.equal(await store.get('jti', b), 1);
    t.ok((await store.members('arrangements')).includes(c), 'the member is added');
    await store.removeMember('arrangements', c);

    t.same(
      await store.sequence([
        { set: 'jti', id: b, value: 2, ttlSeconds: 60, ifAbsent: true },
        { set: 'grant', id: d, value: { v: 2 }, ttlSeconds: 60 },
      ]),
      [false],
      'a set-if-absent that finds a live record stops the sequence',
    );
    t.equal(await store.get('jti', b), 1, 'the live record is kept');
    t.equal(await store.get('grant', d), undefined, 'nothing after the stop ran');

    await store.set('grant-ended', d, 1, 60);
    t.same(
      await store.sequence([
        { set: 'grant', id: d, value: { v: 3 }, ttlSeconds: 60 },
        { absent: 'grant-ended', id: d },
        { set: 'code', id: d, value: 'x', ttlSeconds: 60 },
      ]),
      [true, false],
      'a check that finds a live record stops it; what ran before stays',
    );
    t.same(await store.get('grant', d), { v: 3 });
    t.equal(await store.get('code', d), undefined);

    const full = await store.sequence([{ addMember: 'arrangements', member: id(), max: 0 }, { set: 'code', id: c, value: 'y', ttlSeconds: 1 }]);
    t.same(full, ['full', true], 'a full set does not stop the sequence');
    await sleep(1_200);
    t.equal(await store.get('code', c), undefined, 'records written by a sequence expire after their TTL');
  });

  await t.test('sequence guards: present, unchanged, take', async (t) => {
    const [a, b, gone] = [id(), id(), id()];
    await store.set('interaction', a, { csrf: 'x', sub: 'alice', n: 1.5 }, 60);
    await store.set('par', a, { request: { scope: 'openid' } }, 60);
    t.same(
      await store.sequence([
        { present: 'par', id: a },
        { unchanged: 'interaction', id: a, value: { csrf: 'x', sub: 'alice', n: 1.5 } },
        { take: 'par', id: a },
        { take: 'interaction', id: a },
        { set: 'code', id: a, value: 'c', ttlSeconds: 60 },
      ]),
      [true, true, true, true, true],
      'live records pass present and unchanged, and are taken',
    );
    t.equal(await store.get('par', a), undefined, 'a taken record is gone');
    t.equal(await store.get('interaction', a), undefined);
    t.equal(await store.get('code', a), 'c');

    t.same(await store.sequence([{ present: 'par', id: gone }, { set: 'code', id: gone, value: 'c', ttlSeconds: 60 }]), [false], 'present stops at a missing record');
    t.same(await store.sequence([{ take: 'par', id: gone }, { set: 'code', id: gone, value: 'c', ttlSeconds: 60 }]), [false], 'take stops at a missing record');
    t.equal(await store.get('code', gone), undefined, 'nothing after the stop ran');

    await store.set('interaction', b, { csrf: 'x' }, 60);
    await store.set('par', b, { request: {} }, 60);
    t.same(
      await store.sequence([
        { unchanged: 'interaction', id: b, value: { csrf: 'x', sub: 'alice' } },
        { take: 'par', id: b },
      ]),
      [false],
      'unchanged stops when the record holds another value',
    );
    t.same(await store.sequence([{ unchanged: 'interaction', id: gone, value: { csrf: 'x' } }]), [false], 'and when there is none');
    t.same(await store.get('par', b), { request: {} }, 'the record after the stop is not taken');

    const taken = await Promise.all(Array.from({ length: 50 }, () => store.sequence([{ take: 'par', id: b }])));
    t.equal(taken.filter(([ok]) => ok).length, 1, 'of 50 concurrent takes, exactly one takes the record');
  });

  await t.test('200 concurrent sequences opening with the same set-if-absent: exactly one runs through', async (t) => {
    const marker = id();
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        store.sequence([
          { set: 'eco-consent-state', id: marker, value: { n }, ttlSeconds: 60, ifAbsent: true },
          { set: 'eco-consent-state', id: `${marker}/${n}`, value: n, ttlSeconds: 60 },
        ]),
      ),
    );
    const winners = outcomes.flatMap((o, n) => (o.length === 2 ? [n] : []));
    t.equal(winners.length, 1);
    t.same(await store.get('eco-consent-state', marker), { n: winners[0] }, "the winner's value is stored");
    const followers = await Promise.all(Array.from({ length: 200 }, (_, n) => store.get('eco-consent-state', `${marker}/${n}`)));
    t.same(followers.filter((v) => v !== undefined), [winners[0]], "only the winner's later step ran");
  });

  await t.test('a bounded set: added, present, full; members; removal', async (t) => {
    const members = new Set(await store.members('registered-clients'));
    const max = members.size + 2;
    const [a, b, c] = [id(), id(), id()];
    t.equal(await store.addMember('registered-clients', a, max), 'added');
    t.equal(await store.addMember('registered-clients', a, max), 'present', 'a member already');
    t.equal(await store.addMember('registered-clients', b, max), 'added');
    t.equal(await store.addMember('registered-clients', c, max), 'full', 'past the bound');
    t.same(new Set(await store.members('registered-clients')), new Set([...members, a, b]));
    await store.removeMember('registered-clients', a);
    t.equal(await store.addMember('registered-clients', c, max), 'added', 'room again after a removal');
    await Promise.all([b, c].map((m) => store.removeMember('registered-clients', m)));
  });

  await t.test('change notices reach a subscriber, after it is live', async (t) => {
    const channel = `test-${id()}`;
    const heard: string[] = [];
    let live = false;
    store.subscribe(channel, (notice) => {
      if (notice.type === 'live') live = true;
      else if (notice.type === 'interrupted') live = false;
      else heard.push(notice.message);
    });
    await eventually(async () => assert(live));
    const message = id();
    await store.publish(channel, message);
    await eventually(async () => assert(heard.includes(message)));
    t.same(heard, [message], 'the notice, once');
  });

  await t.test('an index: members by expiry, bounded, expiring, removable, several in one call', async (t) => {
    const [subject, client] = [id(), id()];
    const now = Math.floor(Date.now() / 1000);
    await store.index([
      { kind: 'grants-by-subject', key: subject, member: 'late', expiresAt: now + 600, max: 3 },
      { kind: 'grants-by-client', key: client, member: 'late', expiresAt: now + 600, max: 3 },
    ]);
    await store.index([{ kind: 'grants-by-subject', key: subject, member: 'soon', expiresAt: now + 60, max: 3 }]);
    await store.index([{ kind: 'grants-by-subject', key: subject, member: 'gone', expiresAt: now + 30, max: 3 }]); // not now + 1: `now` is rounded down, so that could be a millisecond away
    t.same(await store.indexMembers('grants-by-subject', subject), ['gone', 'soon', 'late'], 'soonest to expire first');
    t.same(await store.indexMembers('grants-by-client', client), ['late'], 'the other index, written in the same call');
    t.same(await store.indexMembers('grants-by-client', subject), [], 'kinds are separate');
    await store.index([{ kind: 'grants-by-subject', key: subject, member: 'latest', expiresAt: now + 900, max: 3 }]);
    t.same(await store.indexMembers('grants-by-subject', subject), ['soon', 'late', 'latest'], 'past the bound the soonest to expire goes');
    await store.index([{ kind: 'grants-by-subject', key: subject, member: 'soon', expiresAt: now + 1200, max: 3 }]);
    t.same(await store.indexMembers('grants-by-subject', subject), ['late', 'latest', 'soon'], 'adding again moves the expiry');
    await store.unindex('grants-by-subject', subject, 'late');
    await store.unindex('grants-by-subject', id(), 'late');
    t.same(await store.indexMembers('grants-by-subject', subject), ['latest', 'soon'], 'removed; removing from a missing index is fine');
    const short = id();
    await store.index([{ kind: 'grant-trail', key: short, member: 'x', expiresAt: Date.now() / 1000 + 1, max: 3 }]);
    await eventually(async () => assert((await store.indexMembers('grant-trail', short)).length === 0), 5_000);
    t.pass('a member is gone once its time is up');
  });

  await t.test('an index: members whose time is up neither count against the bound nor shorten the key', async (t) => {
    const key = id();
    const now = Date.now() / 1000;
    await store.index([{ kind: 'grants-by-subject', key, member: 'brief', expiresAt: now + 1, max: 2 }]);
    await store.index([{ kind: 'grants-by-subject', key, member: 'late', expiresAt: now + 600, max: 2 }]);
    await eventually(async () => assert((await store.indexMembers('grants-by-subject', key)).length === 1), 5_000);
    await store.index([{ kind: 'grants-by-subject', key, member: 'later', expiresAt: now + 900, max: 2 }]);
    t.same(await store.indexMembers('grants-by-subject', key), ['late', 'later'], 'the member whose time was up went first');
    await store.index([{ kind: 'grants-by-subject', key, member: 'past', expiresAt: now - 5, max: 2 }]);
    t.same(await store.indexMembers('grants-by-subject', key), ['late', 'later'], 'a member added past its time is not seen, and the others stay');
    await store.index([{ kind: 'grants-by-subject', key, member: 'late', expiresAt: now + 30, max: 2 }]);
    t.same(await store.indexMembers('grants-by-subject', key), ['late', 'later'], 'an earlier expiry for one member keeps the key for the others');
  });

  await t.test('ping resolves', (t) => t.resolves(store.ping()));
}

function assert(condition: boolean): void {
  if (!condition) throw new Error('not yet');
}
