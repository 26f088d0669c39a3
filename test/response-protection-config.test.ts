/**
 * Client metadata for signed and encrypted responses, and the profile keys that offer them: every
 * value outside the profile, and every encryption without a key to encrypt to, fails at start
 * naming the key path.
 */
import { exportJWK, generateKeyPair } from 'jose';
import t, { type Test } from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { discoveryDocument } from '../src/oauth/discovery.js';
import { testConfig, testPki } from './helpers/harness.js';
import { derivedProfile, RESPONSE_SIGNING } from './helpers/derived-profile.js';

let profile: string;
t.before(async () => {
  profile = await derivedProfile();
});

type Edit = (config: Record<string, any>) => void | Promise<void>;

async function contextOf(edit: Edit) {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  config.profile = profile;
  await edit(config);
  const ctx = await createContext(await resolveConfig(config, dir, {}));
  await ctx.store.close();
  return ctx;
}

async function refused(t: Test, edit: Edit, keyPath: string, problem: RegExp, message: string) {
  try {
    await contextOf(edit);
    t.fail(`${message}: accepted`);
  } catch (err) {
    t.type(err, ConfigError, message);
    t.equal((err as ConfigError).keyPath, keyPath, `${message}: names ${keyPath}`);
    t.match((err as ConfigError).problem, problem, message);
  }
}

const rsaEncJwk = async () => ({ ...(await exportJWK((await generateKeyPair('RSA-OAEP-256', { extractable: true })).publicKey)), kid: 'enc-1', use: 'enc' });
const one = (config: Record<string, any>) => config.clients[0];

t.test('accepted: every metadata value the profile allows', async (t) => {
  const jwk = await rsaEncJwk();
  const ctx = await contextOf((config) => {
    one(config).jwks.keys.push(jwk);
    Object.assign(one(config), {
      authorization_signed_response_alg: 'ES256',
      authorization_encrypted_response_alg: 'RSA-OAEP',
      authorization_encrypted_response_enc: 'A128GCM',
      id_token_signed_response_alg: 'PS256',
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
      userinfo_signed_response_alg: 'ES256',
      userinfo_encrypted_response_alg: 'RSA-OAEP-256',
      userinfo_encrypted_response_enc: 'A256GCM',
    });
  });
  t.same((await ctx.clients.get('client-one'))!.responseProtection, {
    authorizationSigningAlg: 'ES256',
    userinfoSigningAlg: 'ES256',
    authorizationEncryption: { alg: 'RSA-OAEP', enc: 'A128GCM' },
    idTokenEncryption: { alg: 'RSA-OAEP-256', enc: 'A256GCM' },
    userinfoEncryption: { alg: 'RSA-OAEP-256', enc: 'A256GCM' },
  });
});

t.test('refused: values outside the profile, named by key path', async (t) => {
  const withKey = (extra: Record<string, string>): Edit => async (config) => {
    one(config).jwks.keys.push(await rsaEncJwk());
    Object.assign(one(config), extra);
  };
  await refused(t, withKey({ authorization_signed_response_alg: 'RS256' }), 'clients[0].authorization_signed_response_alg', /"RS256" is not allowed/, 'RS256 for JARM');
  await refused(t, withKey({ authorization_signed_response_alg: 'none' }), 'clients[0].authorization_signed_response_alg', /"none" is not allowed/, 'none for JARM');
  await refused(t, withKey({ userinfo_signed_response_alg: 'HS256' }), 'clients[0].userinfo_signed_response_alg', /"HS256" is not allowed/, 'HS256 for userinfo');
  await refused(t, withKey({ id_token_encrypted_response_alg: 'RSA1_5', id_token_encrypted_response_enc: 'A256GCM' }), 'clients[0].id_token_encrypted_response_alg', /"RSA1_5" is not allowed/, 'RSA1_5');
  await refused(t, withKey({ id_token_encrypted_response_alg: 'dir', id_token_encrypted_response_enc: 'A256GCM' }), 'clients[0].id_token_encrypted_response_alg', /"dir" is not allowed/, 'dir');
  await refused(t, withKey({ userinfo_encrypted_response_alg: 'RSA-OAEP-256', userinfo_encrypted_response_enc: 'A256CBC-HS512' }), 'clients[0].userinfo_encrypted_response_enc', /"A256CBC-HS512" is not allowed/, 'an enc outside the profile');
  await refused(t, withKey({ authorization_encrypted_response_alg: 'RSA-OAEP-256' }), 'clients[0].authorization_encrypted_response_enc', /the default "A128CBC-HS256" is not allowed/, 'the registration default enc, not in the profile');
  await refused(t, withKey({ id_token_encrypted_response_enc: 'A256GCM' }), 'clients[0].id_token_encrypted_response_enc', /needs id_token_encrypted_response_alg/, 'an enc without an alg');
});

t.test('refused: encryption without a key to encrypt to', async (t) => {
  const asks = { id_token_encrypted_response_alg: 'RSA-OAEP-256', id_token_encrypted_response_enc: 'A256GCM' };
  await refused(t, (config) => void Object.assign(one(config), asks), 'clients[0].jwks', /needs a public key with "use": "enc" that fits RSA-OAEP-256/, 'no enc key in jwks');
  const ecKey = { ...(await exportJWK((await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true })).publicKey)), kid: 'ec-enc', use: 'enc' };
  await refused(t, (config) => {
    one(config).jwks.keys.push(ecKey);
    Object.assign(one(config), asks);
  }, 'clients[0].jwks', /fits RSA-OAEP-256/, 'an EC key for an RSA algorithm');
  const named = { ...(await rsaEncJwk()), alg: 'RSA-OAEP' };
  await refused(t, (config) => {
    one(config).jwks.keys.push(named);
    Object.assign(one(config), asks);
  }, 'clients[0].jwks', /fits RSA-OAEP-256/, 'a key registered for another algorithm');
  const sigOnly = { ...(await rsaEncJwk()), use: 'sig', alg: 'PS256' };
  await refused(t, (config) => {
    one(config).jwks.keys.push(sigOnly);
    Object.assign(one(config), asks);
  }, 'clients[0].jwks', /"use": "enc"/, 'a signing key is not an encryption key');
  // jose will not make a key this small; node will.
  const weak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak', use: 'enc' };
  await refused(t, (config) => {
    one(config).jwks.keys.push(weak);
  }, 'clients[0].jwks.keys[1]', /2048|bits|weak|short/i, 'a weak encryption key');
});

t.test('refused: a signing algorithm the server holds no key for', async (t) => {
  // The dev keys are PS256 and ES256; EdDSA is allowed by the profile but has no key.
  await refused(t, (config) => void (one(config).authorization_signed_response_alg = 'EdDSA'), 'clients[0].authorization_signed_response_alg', /no active signing key for EdDSA/, 'JARM');
  await refused(t, (config) => void (one(config).userinfo_signed_response_alg = 'EdDSA'), 'clients[0].userinfo_signed_response_alg', /no active signing key for EdDSA/, 'userinfo');
  await refused(t, (config) => void (config.profile = 'x'), 'profile', /no profile named/, 'sanity: a wrong profile name');
});

t.test('refused on the baseline profile: JARM and encryption are not offered there', async (t) => {
  const baseline = (edit: Edit): Edit => async (config) => {
    await edit(config);
    config.profile = 'fapi2';
  };
  await refused(t, baseline(async (config) => {
    one(config).jwks.keys.push(await rsaEncJwk());
    Object.assign(one(config), { id_token_encrypted_response_alg: 'RSA-OAEP-256', id_token_encrypted_response_enc: 'A256GCM' });
  }), 'clients[0].id_token_encrypted_response_alg', /profile fapi2 offers no encrypted responses/, 'encryption');
  await refused(t, baseline((config) => void (config.policy = { responseModes: ['query', 'jwt'] })), 'policy.responseModes', /\["jwt"\] is not allowed by the profile/, 'a policy adding JARM');
  await refused(t, baseline((config) => void (config.policy = { algorithms: { encryption: RESPONSE_SIGNING.algorithms.encryption } })), 'policy.algorithms.encryption', /not offered by the profile/, 'a policy adding encryption');
});

t.test('profile keys: a JARM algorithm must be a signing algorithm; a policy may narrow them', async (t) => {
  const bad = await derivedProfile({ ...RESPONSE_SIGNING, algorithms: { signing: ['PS256'], authorizationResponse: ['ES256'] } });
  await refused(t, (config) => void (config.profile = bad), 'profile.yaml.algorithms.authorizationResponse', /\["ES256"\] is not in algorithms.signing/, 'authorizationResponse outside signing');
  const noKey = await derivedProfile({ ...RESPONSE_SIGNING, algorithms: { authorizationResponse: ['EdDSA'] } });
  await refused(t, (config) => void (config.profile = noKey), 'keys.signing', /offers JARM signed with EdDSA, and no active key/, 'JARM with no key for its algorithm');
  const ctx = await contextOf((config) => void (config.policy = { responseModes: ['query', 'jwt'], algorithms: { encryption: { alg: ['ECDH-ES'], enc: ['A256GCM'] } } }));
  const doc = discoveryDocument(ctx);
  t.same(doc.response_modes_supported, ['query', 'jwt'], 'narrowed response modes');
  t.same(doc.id_token_encryption_alg_values_supported, ['ECDH-ES'], 'narrowed encryption');
  t.same(doc.userinfo_encryption_enc_values_supported, ['A256GCM']);
  await refused(t, (config) => void (config.policy = { algorithms: { encryption: { alg: ['RSA1_5'], enc: ['A256GCM'] } } }), 'policy.algorithms.encryption.alg[0]', /.*/, 'RSA1_5 is not even a profile value');
});
