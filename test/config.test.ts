// Configuration errors name the key path they concern (DESIGN "Configuration", "Profiles"), the
// policy may only tighten the profile, and the `check` command reports errors without a stack trace.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import { stringify } from 'yaml';
import { createContext } from '../src/app.js';
import { ConfigError } from '../src/config/config-error.js';
import { loadConfigFile, resolveConfig } from '../src/config/load.js';
import type { GatewayContext } from '../src/context.js';
import { discoveryDocument } from '../src/oauth/discovery.js';
import { testConfig, testPki } from './helpers/harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let dir: string;
let pkiDir: string;
t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fapi-config-'));
  pkiDir = (await testPki()).dir;
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A valid raw config (the embedded one on loopback, the test PKI), changed by `edit`. */
async function rawConfig(edit: (config: Record<string, any>) => void | Promise<void> = () => {}): Promise<Record<string, any>> {
  const config = await testConfig((await testPki()).pki);
  await edit(config);
  return config;
}

/** Resolves and builds the context of a raw config, as the gateway does at start. */
async function contextOf(raw: unknown): Promise<GatewayContext> {
  const ctx = await createContext(await resolveConfig(raw, pkiDir, {}));
  await ctx.store.close();
  return ctx;
}

/** The type of a subtest's `t`. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** The ConfigError a raw config fails with (fails the test when it does not fail). */
async function configError(t: Tap, raw: unknown): Promise<ConfigError> {
  try {
    await contextOf(raw);
  } catch (err) {
    t.type(err, ConfigError, 'a ConfigError');
    return err as ConfigError;
  }
  t.fail('the config was accepted');
  return new ConfigError('', '');
}

async function writeYaml(name: string, content: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

t.test('the embedded test config is valid', async (t) => {
  const ctx = await contextOf(await rawConfig());
  t.equal(ctx.profile.name, 'fapi2');
  t.equal([...ctx.clients.all()].length, 2);
});

t.test('an unknown top-level key', async (t) => {
  const err = await configError(t, await rawConfig((c) => void (c.issuers = 'https://localhost')));
  t.equal(err.keyPath, 'issuers');
  t.match(err.message, /^issuers: /);
});

t.test('an issuer that is not https', async (t) => {
  const err = await configError(t, await rawConfig((c) => void (c.issuer = 'http://localhost:8443')));
  t.equal(err.keyPath, 'issuer');
});

t.test('an issuer with a trailing slash or a query', async (t) => {
  t.equal((await configError(t, await rawConfig((c) => void (c.issuer += '/')))).keyPath, 'issuer');
  t.equal((await configError(t, await rawConfig((c) => void (c.issuer += '/?a=b')))).keyPath, 'issuer');
});

t.test('clients', async (t) => {
  t.test('token_endpoint_auth_method client_secret_basic', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.clients[0].token_endpoint_auth_method = 'client_secret_basic')));
    t.equal(err.keyPath, 'clients[0].token_endpoint_auth_method');
    t.match(err.problem, /client_secret_basic/);
  });

  t.test('token_endpoint_auth_method none', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.clients[1].token_endpoint_auth_method = 'none')));
    t.equal(err.keyPath, 'clients[1].token_endpoint_auth_method');
  });

  t.test('a jwks key with alg RS256', async (t) => {
    const { publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const err = await configError(t, await rawConfig(async (c) => void (c.clients[0].jwks.keys = [{ ...(await exportJWK(publicKey)), alg: 'RS256' }])));
    t.equal(err.keyPath, 'clients[0].jwks.keys[0].alg');
    t.match(err.problem, /RS256/);
  });

  t.test('an RSA key of 1024 bits', async (t) => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const err = await configError(t, await rawConfig((c) => void (c.clients[0].jwks.keys = [{ ...jwk, alg: 'PS256', kid: 'weak' }])));
    t.equal(err.keyPath, 'clients[0].jwks.keys[0]');
    t.match(err.problem, /1024/);
  });

  t.test('a jwks holding a private key', async (t) => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const err = await configError(t, await rawConfig((c) => void (c.clients[0].jwks.keys = [{ ...jwk, alg: 'ES256', kid: 'k' }])));
    t.equal(err.keyPath, 'clients[0].jwks.keys[0]');
    t.match(err.problem, /private/);
    t.notMatch(err.message, jwk.d!, 'the private key is not repeated in the error');
  });

  t.test('a tls_client_auth client with no subject DN or SAN', async (t) => {
    const err = await configError(t, await rawConfig((c) => void delete c.clients[1].tls_client_auth_subject_dn));
    t.equal(err.keyPath, 'clients[1]');
    t.match(err.problem, /tls_client_auth_subject_dn/);
  });

  t.test('a tls_client_auth client with both a subject DN and a SAN', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.clients[1].tls_client_auth_san_dns = 'client.example.com')));
    t.equal(err.keyPath, 'clients[1]');
  });

  t.test('a tls_client_auth_subject_dn that is not an RFC 4514 DN', async (t) => {
    for (const dn of ['client-two', 'CN=client-two,', 'NOTATYPE=x'])
      t.equal((await configError(t, await rawConfig((c) => void (c.clients[1].tls_client_auth_subject_dn = dn)))).keyPath, 'clients[1].tls_client_auth_subject_dn', dn);
    const unknownType = await configError(t, await rawConfig((c) => void (c.clients[1].tls_client_auth_subject_dn = 'CN=x,NOTATYPE=y')));
    t.match(unknownType.problem, /unknown attribute type "NOTATYPE"/, 'says what is wrong');
    const accepted = await contextOf(await rawConfig((c) => void (c.clients[1].tls_client_auth_subject_dn = 'cn=client-two, o=fapi-gateway demo, c=AU')));
    t.ok((await accepted.clients.get('client-two'))!.subjectDn, 'lower-case attribute types and spaces after commas are accepted');
  });

  t.test('a duplicate client_id', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.clients[1].client_id = 'client-one')));
    t.equal(err.keyPath, 'clients[1].client_id');
    t.match(err.problem, /duplicate/);
  });

  t.test('a redirect URI with http:// or a fragment', async (t) => {
    const http = await configError(t, await rawConfig((c) => void (c.clients[0].redirect_uris = ['http://client.localhost/callback'])));
    t.equal(http.keyPath, 'clients[0].redirect_uris[0]');
    const fragment = await configError(t, await rawConfig((c) => void c.clients[0].redirect_uris.push('https://client.localhost/callback#top')));
    t.equal(fragment.keyPath, 'clients[0].redirect_uris[1]');
    const relative = await configError(t, await rawConfig((c) => void (c.clients[0].redirect_uris = ['/callback'])));
    t.equal(relative.keyPath, 'clients[0].redirect_uris[0]');
  });

  t.test('a redirect URI with a query is accepted', async (t) => {
    const ctx = await contextOf(await rawConfig((c) => void c.clients[0].redirect_uris.push('https://client.localhost/callback?dummy1=lorem&dummy2=ipsum')));
    t.ok((await ctx.clients.get('client-one'))!.redirectUris.has('https://client.localhost/callback?dummy1=lorem&dummy2=ipsum'));
  });
});

t.test('policy', async (t) => {
  t.test('a longer access token lifetime than the profile is an error on policy.lifetimes.accessToken', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.policy = { lifetimes: { accessToken: 900 } })));
    t.equal(err.keyPath, 'policy.lifetimes.accessToken');
    t.match(err.problem, /900/);
  });

  t.test('a shorter access token lifetime is accepted', async (t) => {
    const ctx = await contextOf(await rawConfig((c) => void (c.policy = { lifetimes: { accessToken: 120 } })));
    t.equal(ctx.profile.lifetimes.accessToken, 120);
    t.equal(ctx.profile.lifetimes.code, 60, 'the other lifetimes keep the profile value');
  });

  t.test('a wider client assertion audience or a longer assertion age is an error', async (t) => {
    t.equal((await configError(t, await rawConfig((c) => void (c.policy = { clientAssertion: { audience: ['issuer', 'token_endpoint'] } })))).keyPath, 'policy.clientAssertion.audience');
    t.equal((await configError(t, await rawConfig((c) => void (c.policy = { clientAssertion: { maxAgeSeconds: 600 } })))).keyPath, 'policy.clientAssertion.maxAgeSeconds');
  });

  t.test('an algorithm or method outside the baseline is an error naming it', async (t) => {
    const rs256 = await configError(t, await rawConfig((c) => void (c.policy = { algorithms: { signing: ['RS256'] } })));
    t.match(rs256.keyPath, /^policy\.algorithms\.signing/);
    const secret = await configError(t, await rawConfig((c) => void (c.policy = { clientAuthMethods: ['private_key_jwt', 'client_secret_basic'] })));
    t.match(secret.keyPath, /^policy\.clientAuthMethods/);
  });

  t.test('clientAuthMethods [private_key_jwt] is accepted, and discovery then lists only it', async (t) => {
    const ctx = await contextOf(
      await rawConfig((c) => {
        c.policy = { clientAuthMethods: ['private_key_jwt'] };
        c.clients = c.clients.filter((client: { client_id: string }) => client.client_id === 'client-one');
      }),
    );
    t.same(ctx.profile.clientAuthMethods, ['private_key_jwt']);
    const doc = discoveryDocument(ctx);
    t.same(doc.token_endpoint_auth_methods_supported, ['private_key_jwt']);
    t.same(doc.introspection_endpoint_auth_methods_supported, ['private_key_jwt']);
    t.same(doc.revocation_endpoint_auth_methods_supported, ['private_key_jwt']);
  });

  t.test('a client using a method the policy removed is an error on that client', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.policy = { clientAuthMethods: ['private_key_jwt'] })));
    t.equal(err.keyPath, 'clients[1].token_endpoint_auth_method');
  });

  t.test('a policy cannot switch the ecosystem pack', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.policy = { ecosystem: 'cdr' })));
    t.equal(err.keyPath, 'policy.ecosystem');
  });

  t.test('an unknown policy key is an error naming it', async (t) => {
    const err = await configError(t, await rawConfig((c) => void (c.policy = { lifetime: { accessToken: 60 } })));
    t.match(err.keyPath, /^policy\.lifetime/);
  });
});

t.test('an unknown profile', async (t) => {
  const err = await configError(t, await rawConfig((c) => void (c.profile = 'fapi3')));
  t.equal(err.keyPath, 'profile');
  t.match(err.problem, /fapi3/);
});

t.test('invalid YAML names the line', async (t) => {
  const file = await writeYaml('broken.yaml', 'issuer: https://localhost:8443\nprofile: fapi2\nclients:\n  - client_id: [unclosed\n    scope: openid\n');
  const err = await loadConfigFile(file, {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ConfigError);
  t.match((err as Error).message, /not valid YAML at line \d+/);
});

t.test('a missing signing key file is an error on keys.signing', async (t) => {
  const err = await configError(t, await rawConfig((c) => void (c.keys.signing = path.join(dir, 'no-such-file.json'))));
  t.equal(err.keyPath, 'keys.signing');
  t.match(err.problem, /ENOENT/);
});

t.test('a missing TLS certificate file is an error on tls.cert', async (t) => {
  const err = await configError(t, await rawConfig((c) => void (c.tls.cert = path.join(dir, 'no-such-cert.pem'))));
  t.equal(err.keyPath, 'tls.cert');
});

t.test('users with a plain password are listed in plainPasswordUsers (NODE_ENV=development only)', async (t) => {
  const plain = await rawConfig((c) => void c.users.push({ username: 'bob', password: 'builder', sub: 'bob-1' }));
  const refused = await configError(t, plain);
  t.equal(refused.keyPath, 'users[1].password', 'refused outside development, naming the key path');
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = 'development';
  t.teardown(() => (previous === undefined ? delete process.env.NODE_ENV : (process.env.NODE_ENV = previous)));
  const ctx = await contextOf(await rawConfig((c) => void c.users.push({ username: 'bob', password: 'builder', sub: 'bob-1' })));
  t.same(ctx.users.plainPasswordUsers, ['bob']);
  t.ok(await ctx.users.authenticate('bob', 'builder'), 'the plain password works');
  const hashedOnly = await contextOf(await rawConfig());
  t.same(hashedOnly.users.plainPasswordUsers, [], 'hashed passwords are not listed');
  const both = await configError(t, await rawConfig((c) => void (c.users[0].password = 'x')));
  t.equal(both.keyPath, 'users[0]', 'passwordHash and password together');
});

t.test('loadConfigFile resolves paths against the file and names key paths', async (t) => {
  const good = await writeYaml('good.yaml', await rawConfig());
  const loaded = await loadConfigFile(good, {});
  t.equal(loaded.profile.name, 'fapi2');
  const bad = await writeYaml('bad.yaml', await rawConfig((c) => void (c.listeners.mtls.port = 'eight')));
  const err = await loadConfigFile(bad, {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal((err as ConfigError).keyPath, 'listeners.mtls.port');
});

/** Runs the CLI as an operator would; the exit code and both outputs. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { ...process.env, FAPI_GATEWAY_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('fapi-gateway check --config FILE', async (t) => {
  // The four runs start together: each process compiles the gateway, which is the slow part.
  const [good, bad, broken, absent] = await Promise.all([
    writeYaml('check-good.yaml', await rawConfig()).then((file) => cli(['check', '--config', file])),
    writeYaml('check-bad.yaml', await rawConfig((c) => void (c.clients[0].token_endpoint_auth_method = 'client_secret_basic'))).then((file) =>
      cli(['check', '--config', file]),
    ),
    writeYaml('check-broken.yaml', 'issuer: https://localhost:8443\nclients: [\n').then((file) => cli(['check', '--config', file])),
    cli(['check', '--config', path.join(dir, 'absent.yaml')]),
  ]);

  t.test('exit 0 for a good file', async (t) => {
    t.equal(good.code, 0, good.stderr);
    t.match(good.stdout, /valid/);
  });

  t.test('exit 78 with the key path on stderr for a bad file, and no stack trace', async (t) => {
    t.equal(bad.code, 78);
    t.match(bad.stderr, /clients\[0\]\.token_endpoint_auth_method/);
    t.notMatch(bad.stderr, /^\s+at /m, 'no stack trace');
    t.notMatch(bad.stderr, /\.ts:\d+/, 'no source locations');
  });

  t.test('exit 78 for invalid YAML, naming the line', async (t) => {
    t.equal(broken.code, 78);
    t.match(broken.stderr, /line \d+/);
    t.notMatch(broken.stderr, /^\s+at /m, 'no stack trace');
  });

  t.test('exit 78 for a file that does not exist', async (t) => {
    t.equal(absent.code, 78);
    t.notMatch(absent.stderr, /^\s+at /m, 'no stack trace');
  });
});

t.test('informational registration metadata is accepted; values the gateway cannot honour are not', async (t) => {
  const ok = await contextOf(
    await rawConfig((c) => {
      Object.assign(c.clients[0], { client_uri: 'https://tpp.example', contacts: ['ops@tpp.example'], software_id: 'abc', tls_client_certificate_bound_access_tokens: true, application_type: 'web' });
    }),
  );
  t.ok(await ok.clients.get('client-one'));
  const unbound = await configError(t, await rawConfig((c) => void (c.clients[0].tls_client_certificate_bound_access_tokens = false)));
  t.equal(unbound.keyPath, 'clients[0].tls_client_certificate_bound_access_tokens');
  const unknown = await configError(t, await rawConfig((c) => void (c.clients[0].frobnicate = 1)));
  t.equal(unknown.keyPath, 'clients[0].frobnicate');
});

t.test('routes must not shadow the gateway endpoints or each other', async (t) => {
  const route = (prefix: string) => ({ prefix, upstream: 'http://127.0.0.1:9', scopes: ['accounts'] });
  const token = await configError(t, await rawConfig((c) => void (c.routes = [route('/token')])));
  t.equal(token.keyPath, 'routes[0].prefix');
  t.match(token.problem, /collides/);
  const wellKnown = await configError(t, await rawConfig((c) => void (c.routes = [route('/.well-known/x')])));
  t.equal(wellKnown.keyPath, 'routes[0].prefix');
  const twice = await configError(t, await rawConfig((c) => void (c.routes = [route('/accounts'), route('/accounts')])));
  t.equal(twice.keyPath, 'routes[1].prefix');
  const trailing = await configError(t, await rawConfig((c) => void (c.routes = [route('/accounts/')])));
  t.equal(trailing.keyPath, 'routes[0].prefix');
});

t.test('a profile is a name from profiles/ or a .yaml file', async (t) => {
  const traversal = await configError(t, await rawConfig((c) => void (c.profile = '../fapi2')));
  t.equal(traversal.keyPath, 'profile');
  const missing = await configError(t, await rawConfig((c) => void (c.profile = '/nowhere/custom.yaml')));
  t.equal(missing.keyPath, 'profile');
});
