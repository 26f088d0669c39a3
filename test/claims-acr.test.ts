// The claims request parameter (OIDC Core §5.5) and acr: the ID token reports an acr the user's
// login reached, preferring what the client asked for (acr_values, or claims.id_token.acr with value
// or values); an essential acr that cannot be met ends the authorization with access_denied; user
// claims go where they were asked for (ID token or userinfo).
import t from 'tap';
import { decodeJwt } from 'jose';
import { authorize, push, redeem, userinfo } from './helpers/flow.js';
import { startGateway, type Harness } from './helpers/harness.js';
import { hashPassword } from '../src/users/password.js';

const LOA2 = 'urn:example:loa2';
const LOA3 = 'urn:example:loa3';

let h: Harness;
t.before(async () => {
  h = await startGateway({
    async configure(config) {
      // The profile's default for every login (tightening policy may add it), and a user who reaches more.
      config.policy = { acrValues: [LOA2] };
      config.users.push({ username: 'bob', passwordHash: await hashPassword('builder-pw'), sub: 'bob-1', acr: [LOA2, LOA3], claims: { email: 'bob@example.com', given_name: 'Bob' } });
    },
  });
});
t.teardown(() => h?.close());

/** PAR → login as `username` → consent; the callback URL. */
async function authorizeWith(overrides: Record<string, string | undefined>, username = 'alice') {
  const pushed = await push(h, 'client-one', overrides);
  const callback = await authorize(h, pushed, { username, password: username === 'alice' ? 'wonderland' : 'builder-pw' });
  return { pushed, callback };
}

async function idToken(overrides: Record<string, string | undefined>, username = 'alice') {
  const { pushed, callback } = await authorizeWith(overrides, username);
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code: ${callback}`);
  const res = await redeem(h, code, pushed);
  return { claims: decodeJwt(res.json.id_token), accessToken: res.json.access_token as string };
}

const acrClaim = (spec: Record<string, unknown>) => JSON.stringify({ id_token: { acr: spec } });

t.test('discovery lists the acr values logins reach', async (t) => {
  const doc = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.same(doc.acr_values_supported, [LOA2, LOA3]);
  t.equal(doc.claims_parameter_supported, true);
  t.ok(doc.claims_supported.includes('acr'));
});

t.test('no acr asked for, none claimed', async (t) => {
  t.notOk('acr' in (await idToken({})).claims);
});

t.test('acr_values: the first one the login reaches', async (t) => {
  t.equal((await idToken({ acr_values: `${LOA3} ${LOA2}` })).claims.acr, LOA2, 'alice reaches loa2 only');
  t.equal((await idToken({ acr_values: `${LOA3} ${LOA2}` }, 'bob')).claims.acr, LOA3, 'bob reaches loa3');
  t.equal((await idToken({ acr_values: 'urn:example:unknown' })).claims.acr, LOA2, 'a voluntary request not met: the acr reached, never the one asked');
});

t.test('claims.id_token.acr with value and values', async (t) => {
  t.equal((await idToken({ claims: acrClaim({ essential: true, value: LOA3 }) }, 'bob')).claims.acr, LOA3, 'essential value met');
  t.equal((await idToken({ claims: acrClaim({ essential: true, values: ['urn:example:loa9', LOA2] }) })).claims.acr, LOA2, 'essential values: the one met');
  t.equal((await idToken({ claims: acrClaim({ value: LOA3 }) })).claims.acr, LOA2, 'voluntary value not met: the acr reached');
  t.equal((await idToken({ claims: acrClaim({ essential: true, value: LOA2 }), acr_values: LOA3 }, 'bob')).claims.acr, LOA2, 'the claims parameter wins over acr_values');
});

t.test('an essential acr that cannot be met ends the authorization with access_denied', async (t) => {
  const { pushed, callback } = await authorizeWith({ claims: acrClaim({ essential: true, value: LOA3 }) });
  t.equal(callback.searchParams.get('error'), 'access_denied');
  t.match(callback.searchParams.get('error_description'), /authentication context/);
  t.equal(callback.searchParams.get('state'), pushed.state, 'with the state');
  t.notOk(callback.searchParams.get('code'), 'no code');
  t.ok(h.logs.some((l) => l.includes('"audit":"acr_unmet"')), 'an audit event');
});

t.test('requested user claims go where they were asked for', async (t) => {
  const claims = JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { given_name: null } });
  const { claims: id, accessToken } = await idToken({ claims, scope: 'openid accounts' }, 'bob');
  t.equal(id.email, 'bob@example.com', 'email in the ID token');
  t.notOk('given_name' in id, 'given_name not in the ID token');
  const info = (await userinfo(h, accessToken)).json;
  t.equal(info.given_name, 'Bob', 'given_name from userinfo');
  t.notOk('email' in info, 'email not from userinfo (neither asked there nor by scope)');
});

t.test('malformed acr requests are refused at PAR', async (t) => {
  const auth = await h.assertionForm();
  const { parForm } = await import('./helpers/harness.js');
  for (const [why, claims] of [
    ['value not a string', acrClaim({ value: 3 })],
    ['values not strings', acrClaim({ values: [LOA2, 3] })],
  ]) {
    const res = await h.post('/par', { ...parForm({ claims }), ...auth, client_assertion: await h.assertion() });
    t.equal(res.status, 400, why);
    t.equal(res.json?.error, 'invalid_request', why);
  }
});
