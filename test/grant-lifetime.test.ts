import t from 'tap';
import type { Grant } from '../src/grants/grant.js';
import { DEFAULT_MAX_GRANT_SECONDS, grantLifetimes, grantTtlSeconds, type GrantLifetimes } from '../src/grants/grant-lifetime.js';
import type { Profile } from '../src/config/schema.js';

const now = 1_000_000;
const grant = (over: Partial<Grant> = {}): Grant => ({ id: 'g', clientId: 'c', sub: 's', scope: 'openid', createdAt: now, extensions: {}, ...over });
const lifetimes = (refresh: number | 'none', maxSeconds = DEFAULT_MAX_GRANT_SECONDS): GrantLifetimes => ({ accessToken: 300, code: 60, maxSeconds, refreshToken: () => refresh });

t.test("a grant's TTL is the lifetime of what depends on it", async (t) => {
  t.equal(grantTtlSeconds(grant(), lifetimes('none'), now, true), 360, 'no refresh token: the code, then its access tokens');
  t.equal(grantTtlSeconds(grant(), lifetimes('none'), now, false), 300, 'no refresh token, after issuance: its access tokens');
  t.equal(grantTtlSeconds(grant(), lifetimes(7_776_000), now, true), 7_776_360, 'the refresh token lifetime, plus the access token of a last refresh (plus the code)');
  t.equal(grantTtlSeconds(grant(), lifetimes(60), now, false), 360, 'never shorter than an access token from the last moment of its refresh token');
  t.equal(grantTtlSeconds(grant(), lifetimes(0), now, true), DEFAULT_MAX_GRANT_SECONDS, 'unlimited refresh tokens: the maximum');
  t.equal(grantTtlSeconds(grant(), lifetimes(0, 86_400), now, true), 86_400, 'a configured maximum');
  t.equal(grantTtlSeconds(grant(), lifetimes(7_776_000, 86_400), now + 80_000, false), 6_400, 'rotation extends it only up to the maximum from creation');
  t.equal(grantTtlSeconds(grant({ expiresAt: now + 100 }), lifetimes(7_776_000), now, true), 100, 'an ecosystem expiry ends it sooner');
  t.equal(grantTtlSeconds(grant(), lifetimes(0, 10), now + 20, false), 1, 'past its end: as good as gone');
});

t.test('the refresh lifetime: none for a client without refresh_token, the hook over the profile', async (t) => {
  const profile = { lifetimes: { accessToken: 300, code: 60, refreshToken: 3600 } } as Profile;
  const clients = { cached: (id: string) => ({ grantTypes: new Set(id === 'with' ? ['authorization_code', 'refresh_token'] : ['authorization_code']) }) } as never;
  t.equal(grantLifetimes(profile, {}, clients).refreshToken(grant({ clientId: 'with' })), 3600);
  t.equal(grantLifetimes(profile, {}, clients).refreshToken(grant({ clientId: 'without' })), 'none');
  t.equal(grantLifetimes(profile, { refreshTokenLifetime: (_g, d) => d / 2 }, clients).refreshToken(grant({ clientId: 'with' })), 1800);
  t.equal(grantLifetimes(profile, {}, clients).maxSeconds, DEFAULT_MAX_GRANT_SECONDS);
  t.equal(grantLifetimes({ lifetimes: { ...profile.lifetimes, grant: 999 } } as Profile, {}, clients).maxSeconds, 999, 'lifetimes.grant');
});

t.test('lifetimes.grant: set by a policy, refused out of range naming its key path', async (t) => {
  const { loadProfile } = await import('../src/config/profile.js');
  const { ConfigError } = await import('../src/config/config-error.js');
  t.equal((await loadProfile('fapi2', { lifetimes: { grant: 86_400 } })).lifetimes.grant, 86_400);
  t.equal((await loadProfile('fapi2', undefined)).lifetimes.grant, undefined, 'absent in fapi2: the 400-day default');
  for (const bad of [0, 34_560_001, 'long']) {
    const err = await loadProfile('fapi2', { lifetimes: { grant: bad } }).catch((e) => e);
    t.ok(err instanceof ConfigError && /lifetimes\.grant|lifetimes\/grant/.test(`${err.keyPath} ${err.message}`), `${JSON.stringify(bad)} is refused: ${err?.message}`);
  }
});
