// Discovery (RFC 8414 / OpenID Connect Discovery) and the public JWKS (checklist "Discovery and keys").
import t from 'tap';
import { startGateway, type Harness } from './helpers/harness.js';

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h?.close());

const REQUIRED_FIELDS = [
  'issuer',
  'authorization_endpoint',
  'token_endpoint',
  'pushed_authorization_request_endpoint',
  'require_pushed_authorization_requests',
  'code_challenge_methods_supported',
  'token_endpoint_auth_methods_supported',
  'token_endpoint_auth_signing_alg_values_supported',
  'tls_client_certificate_bound_access_tokens',
  'mtls_endpoint_aliases',
  'authorization_response_iss_parameter_supported',
  'response_types_supported',
  'grant_types_supported',
  'scopes_supported',
  'subject_types_supported',
  'claims_supported',
  'claims_parameter_supported',
  'id_token_signing_alg_values_supported',
  'userinfo_endpoint',
  'introspection_endpoint',
  'revocation_endpoint',
  'jwks_uri',
];
const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'];
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
  t.test(path, async (t) => {
    const res = await h.get(h.issuer + path);
    t.equal(res.status, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    const doc = res.json as Record<string, any>;
    const mtls = h.gateway.context.config.listeners.mtls;
    const mtlsBase = `https://localhost:${mtls.port}`;
    t.equal(h.mtlsBase, mtlsBase, 'the harness talks to the mTLS listener');

    t.test('carries every field the checklist names', async (t) => {
      for (const field of REQUIRED_FIELDS) t.ok(field in doc, `has ${field}`);
    });

    t.test('identifies this issuer and its endpoints', async (t) => {
      t.equal(doc.issuer, h.issuer);
      t.equal(doc.authorization_endpoint, `${h.issuer}/authorize`, 'authorization endpoint on the public listener (browsers)');
      t.equal(doc.jwks_uri, `${h.issuer}/jwks`);
      for (const [field, p] of Object.entries({
        token_endpoint: '/token',
        pushed_authorization_request_endpoint: '/par',
        userinfo_endpoint: '/userinfo',
        introspection_endpoint: '/introspect',
        revocation_endpoint: '/revoke',
      })) {
        t.equal(doc[field], mtlsBase + p, `${field} is on the mTLS listener (discovery.plainEndpoints: mtls, the default)`);
        t.equal(doc.mtls_endpoint_aliases?.[field], mtlsBase + p, `mtls_endpoint_aliases.${field} points at the mTLS listener`);
      }
      for (const [field, url] of Object.entries(doc.mtls_endpoint_aliases as Record<string, string>))
        t.ok(url.startsWith(mtlsBase + '/'), `alias ${field} is on the mTLS listener`);
    });

    t.test('advertises the FAPI 2.0 requirements', async (t) => {
      t.equal(doc.require_pushed_authorization_requests, true);
      t.same(doc.code_challenge_methods_supported, ['S256']);
      t.equal(doc.tls_client_certificate_bound_access_tokens, true);
      t.equal(doc.authorization_response_iss_parameter_supported, true);
      t.same(doc.response_types_supported, ['code']);
      t.same(doc.token_endpoint_auth_methods_supported, ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']);
      t.same(doc.token_endpoint_auth_methods_supported, h.gateway.context.profile.clientAuthMethods, 'exactly the profile methods');
      for (const forbidden of ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt'])
        t.notOk(doc.token_endpoint_auth_methods_supported.includes(forbidden), `no ${forbidden}`);
      t.same(doc.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
      for (const grant of ['password', 'implicit']) t.notOk(doc.grant_types_supported.includes(grant), `no ${grant} grant`);
      t.ok(doc.scopes_supported.includes('openid'));
      t.ok(doc.scopes_supported.includes('accounts'));
      t.same(doc.subject_types_supported, ['public']);
      t.ok(Array.isArray(doc.claims_supported) && doc.claims_supported.includes('sub') && doc.claims_supported.includes('acr'));
      t.equal(doc.claims_parameter_supported, true);
      t.same(doc.response_modes_supported, ['query']);
    });

    t.test('signing algorithms: only PS256, ES256, EdDSA; never none, HS*, RS256', async (t) => {
      const algFields = Object.keys(doc).filter((k) => k.endsWith('_alg_values_supported'));
      t.ok(algFields.includes('token_endpoint_auth_signing_alg_values_supported'));
      t.ok(algFields.includes('id_token_signing_alg_values_supported'));
      for (const field of algFields) {
        const algs = doc[field] as string[];
        t.ok(Array.isArray(algs), `${field} is a list`);
        for (const alg of algs) {
          t.ok(FAPI_ALGS.includes(alg), `${field}: ${alg} is a FAPI algorithm`);
          t.not(alg.toLowerCase(), 'none', `${field}: no none`);
          t.notMatch(alg, /^HS/, `${field}: no HS*`);
          t.not(alg, 'RS256', `${field}: no RS256`);
        }
      }
      t.same(doc.token_endpoint_auth_signing_alg_values_supported, FAPI_ALGS);
      // The dev PKI holds ES256 and PS256 signing keys: only algorithms with a key are advertised.
      t.same([...doc.id_token_signing_alg_values_supported].sort(), ['ES256', 'PS256']);
    });
  });
}

t.test('both discovery documents are the same', async (t) => {
  const a = await h.get(h.issuer + '/.well-known/openid-configuration');
  const b = await h.get(h.issuer + '/.well-known/oauth-authorization-server');
  t.same(a.json, b.json);
});

t.test('JWKS: public keys only, each with kid, use=sig and alg', async (t) => {
  const res = await h.get(h.issuer + '/jwks');
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  const keys = res.json.keys as Record<string, unknown>[];
  t.ok(Array.isArray(keys) && keys.length >= 2, 'publishes the signing keys');
  const kids = new Set<string>();
  for (const key of keys) {
    t.type(key.kid, 'string', 'has a kid');
    t.notOk(kids.has(key.kid as string), 'kid is unique');
    kids.add(key.kid as string);
    t.equal(key.use, 'sig', `${key.kid}: use=sig`);
    t.ok(FAPI_ALGS.includes(key.alg as string), `${key.kid}: alg ${key.alg}`);
    for (const member of PRIVATE_JWK_MEMBERS) t.notOk(member in key, `${key.kid}: no private member "${member}"`);
  }
  t.same([...kids].sort(), ['dev-es256-1', 'dev-ps256-1']);
  t.notMatch(res.text, /"(d|p|q|dp|dq|qi|k)"\s*:/, 'no private member anywhere in the document');
});
