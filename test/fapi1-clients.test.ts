/**
 * One profile for FAPI 2.0 and FAPI 1.0 Advanced clients (`fapi1Advanced`, as profiles cdr and
 * brazil use it): a client that registered JARM (authorization_signed_response_alg) is held to the
 * FAPI 1.0 rules, every other client to the profile's own FAPI 2.0 rules, side by side in one
 * gateway. Each rule is shown refusing for the client it applies to and not for the other; then the
 * checks at start (a bad `fapi1Advanced` key, a policy adding it) and what discovery advertises.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { decodeJwt, type JWK } from 'jose';
import { DEMO_REDIRECT_URI } from '../src/config/embedded.js';
import { ConfigError } from '../src/config/config-error.js';
import { loadProfile } from '../src/config/profile.js';
import { validateClientMetadata } from '../src/clients/client-metadata.js';
import { authorizationUrl, authorizeAt } from './helpers/flow.js';
import { startGateway, type ClientName, type Harness, type Response } from './helpers/harness.js';
import { signedRequestObject } from './helpers/request-objects.js';

const PROFILE = `extends: fapi2-message-signing
name: fapi1-beside-fapi2-test
fapi1Advanced:
  clientAssertion:
    parAudience: [issuer, token_endpoint, endpoint]
    audience: [issuer, token_endpoint, endpoint]
    audienceArray: true
  responseModes: [jwt, query.jwt]
  authorizationRequest:
    responseTypes: [code]
    codeRequiresJarm: true
    requestObjectClaims: [scope, redirect_uri, nonce]
`;

let h: Harness;
let dir: string;
let profileFile: string;
// client-one registered JARM: a FAPI 1.0 Advanced client. client-two did not: FAPI 2.0.
const FAPI1: ClientName = 'client-one';
const FAPI2: ClientName = 'client-two';

t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi1-clients-'));
  profileFile = path.join(dir, 'fapi1-beside-fapi2-test.yaml');
  await writeFile(profileFile, PROFILE);
  h = await startGateway({
    configure(config) {
      config.profile = profileFile;
      for (const c of config.clients) Object.assign(c, { require_signed_request_object: true });
      config.clients[0].authorization_signed_response_alg = 'PS256';
    },
  });
});
t.teardown(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

const requestObject = (name: ClientName, overrides: Record<string, unknown> = {}) => signedRequestObject(h, name, overrides);

/** PAR as `name`, authenticating with private_key_jwt (client-one) or its certificate (client-two). */
async function par(name: ClientName, request: string, assertion: Record<string, unknown> = {}): Promise<Response> {
  const auth = name === 'client-one' ? await h.assertionForm(assertion) : {};
  return h.post('/par', { client_id: name, request, ...auth }, { client: name });
}

function refused(t: Test, res: Response, error: string, why: string): void {
  t.equal(res.status, 400, `${why}: ${res.text}`);
  t.equal(res.json?.error, error, why);
  t.equal(res.headers['cache-control'], 'no-store', `${why}: no-store`);
}

t.test('plain response_type=code: refused for the JARM client (FAPI 1.0 Advanced §5.2.2-2), accepted for the FAPI 2.0 client', async (t) => {
  const res = await par(FAPI1, await requestObject(FAPI1));
  refused(t, res, 'invalid_request', 'the FAPI 1.0 client without response_mode');
  t.match(res.json.error_description, /response_mode/);
  refused(t, await par(FAPI1, await requestObject(FAPI1, { response_mode: 'query' })), 'invalid_request', 'the FAPI 1.0 client with response_mode=query');
  t.equal((await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt' }))).status, 201, 'the FAPI 1.0 client with JARM');
  t.equal((await par(FAPI2, await requestObject(FAPI2))).status, 201, 'the FAPI 2.0 client: plain code, JARM never forced');
  t.equal((await par(FAPI2, await requestObject(FAPI2, { response_mode: 'jwt' }))).status, 201, 'the FAPI 2.0 client may ask for JARM');
});

t.test('request object parameters: nonce inside the object for the FAPI 1.0 client only', async (t) => {
  refused(t, await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt', nonce: undefined })), 'invalid_request_object', 'the FAPI 1.0 client without nonce');
  refused(t, await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt', scope: undefined })), 'invalid_request_object', 'the FAPI 1.0 client without scope in the object');
  t.equal((await par(FAPI2, await requestObject(FAPI2, { nonce: undefined }))).status, 201, 'nonce is optional for the FAPI 2.0 client');
});

t.test('client assertion aud: an array or the PAR URL for the FAPI 1.0 client (RFC 7523 §3, RFC 9126 §2), the issuer string at PAR for FAPI 2.0', async (t) => {
  const array = await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt' }), { aud: [h.issuer, 'https://elsewhere.example'] });
  t.equal(array.status, 201, `an array holding the issuer: ${array.text}`);
  const parUrl = await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt' }), { aud: `${h.mtlsBase}/par` });
  t.equal(parUrl.status, 201, `the PAR URL: ${parUrl.text}`);
  const elsewhere = await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt' }), { aud: ['https://elsewhere.example'] });
  t.equal(elsewhere.status, 401, 'an array without an accepted value');
  t.equal(elsewhere.json?.error, 'invalid_client');
});

t.test('a FAPI 2.0 client with private_key_jwt keeps the single issuer string', async (t) => {
  // client-two authenticates with its certificate in the harness: check its rules as built instead.
  const profile = await loadProfile(profileFile, undefined);
  const jwk = JSON.parse(await readFile(h.pki.clients['client-one'].jwk, 'utf8')) as JWK;
  delete jwk.d;
  const base = { client_id: 'c', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid', grant_types: ['authorization_code'] };
  const fapi2 = await validateClientMetadata(base, profile, 'clients[0]');
  t.equal(fapi2.rules, profile, 'no JARM registered: the profile itself');
  t.equal(fapi2.rules.clientAssertion.audienceArray, undefined);
  const fapi1 = await validateClientMetadata({ ...base, authorization_signed_response_alg: 'PS256' }, profile, 'clients[0]');
  t.equal(fapi1.rules.clientAssertion.audienceArray, true, 'JARM registered: the FAPI 1.0 rules');
  t.same(fapi1.rules.responseModes, ['jwt', 'query.jwt']);
});

t.test('the FAPI 1.0 client completes a JARM flow', async (t) => {
  const res = await par(FAPI1, await requestObject(FAPI1, { response_mode: 'jwt' }));
  t.equal(res.status, 201, res.text);
  const callback = await authorizeAt(h, authorizationUrl(FAPI1, res.json.request_uri));
  const response = new URLSearchParams(callback.search).get('response');
  t.type(response, 'string', 'a JARM response');
  t.type(decodeJwt(response!).code, 'string');
});

t.test('discovery advertises what any client may use', async (t) => {
  const m = (await h.get(`${h.issuer}/.well-known/openid-configuration`)).json;
  t.same(m.response_types_supported, ['code']);
  t.same(m.response_modes_supported, ['query', 'jwt', 'query.jwt']);
  const brazil = await loadProfile('brazil', undefined);
  const { responseTypesAdvertised } = await import('../src/oauth/response-types/response-type.js');
  t.same(responseTypesAdvertised(brazil), ['code', 'code id_token'], 'brazil: code for FAPI 2.0, code id_token for FAPI 1.0 clients');
});

t.test('at start: a bad fapi1Advanced key names its path; a policy may not add or loosen the FAPI 1.0 rules', async (t) => {
  const failsAt = async (promise: Promise<unknown>, keyPath: string) => {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof ConfigError, `${keyPath}: a ConfigError`);
    t.equal((err as ConfigError | undefined)?.keyPath, keyPath, `names ${keyPath}`);
  };
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, `${PROFILE}  unknownKey: 1\n`);
  await failsAt(loadProfile(bad, undefined), 'bad.yaml.fapi1Advanced.unknownKey');
  const inconsistent = path.join(dir, 'inconsistent.yaml');
  await writeFile(inconsistent, PROFILE.replace('    audience: [issuer, token_endpoint, endpoint]\n', ''));
  await failsAt(loadProfile(inconsistent, undefined), 'inconsistent.yaml.fapi1Advanced.clientAssertion.parAudience');
  await failsAt(loadProfile('fapi2', { fapi1Advanced: { responseModes: ['jwt'] } }), 'policy.fapi1Advanced');
  await failsAt(loadProfile(profileFile, { fapi1Advanced: { authorizationRequest: { codeRequiresJarm: false } } }), 'policy.fapi1Advanced.authorizationRequest.codeRequiresJarm');
  await failsAt(loadProfile(profileFile, { fapi1Advanced: { authorizationRequest: { requestObjectClaims: ['scope'] } } }), 'policy.fapi1Advanced.authorizationRequest.requestObjectClaims');
  const tightened = await loadProfile(profileFile, { fapi1Advanced: { clientAssertion: { audienceArray: false } } });
  t.equal(tightened.fapi1Advanced?.clientAssertion?.audienceArray, false, 'a policy may tighten them');
});
