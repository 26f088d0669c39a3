/**
 * The registration hooks an ecosystem pack plugs in (src/ecosystems/hooks.ts): a statement mapped
 * (roles → scopes, metadata it decides) or refused with the pack's own check, one registration per
 * software_id, extra response fields. Driven in process on the memory store, with the directory's
 * keys from a file.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createContext } from '../src/app.js';
import { resolveConfig } from '../src/config/load.js';
import type { EcosystemHooks } from '../src/ecosystems/hooks.js';
import { RegistrationError } from '../src/registration/errors.js';
import { setUpRegistration } from '../src/registration/setup.js';
import { fromDer } from '../src/tls/peer-certificate.js';
import { testConfig, testPki } from './helpers/harness.js';
import { clientKeys } from './helpers/directory.js';

const ISSUER = 'https://directory.hooks.example';

/** The error a refused call fails with. */
async function refusal(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  return 'accepted';
}

t.test('a pack maps statements, keeps one registration per software_id and adds response fields', async (t) => {
  const { dir: pkiDir, pki } = await testPki();
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-hooks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const directoryKey = await generateKeyPair('ES256');
  const jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(directoryKey.publicKey)), kid: 'd1', alg: 'ES256' }] }));
  const config = await testConfig(pki);
  config.registration = { enabled: true, directories: [{ issuer: ISSUER, jwksFile }] };
  const ctx = await createContext(await resolveConfig(config, pkiDir, {}));
  t.teardown(() => ctx.store.close());

  const seen: Array<{ claims: Record<string, unknown>; subject: string }> = [];
  const hooks: EcosystemHooks = {
    softwareStatement: ({ claims, certificate }) => {
      seen.push({ claims, subject: certificate.parsed().subject });
      if (claims.org_status !== 'Active') throw new RegistrationError('unapproved_software_statement', 'the organisation is not active');
      const roles = claims.software_roles as string[];
      return { allowedScopes: ['openid', ...(roles.includes('ACCOUNTS') ? ['accounts'] : [])], metadata: { client_name: `org ${claims.org_id}` } };
    },
    oneRegistrationPerSoftwareId: () => true,
    registrationResponseFields: (record) => ({ org_software: record.registration.softwareId }),
  };
  const registrations = await setUpRegistration({ config: ctx.config, profile: ctx.profile, store: ctx.store, clients: ctx.clients, hooks, urls: ctx.urls });
  const certificate = fromDer(Buffer.from(new X509Certificate(await readFile(pki.clients['client-one'].cert)).raw), true);
  const keys = await clientKeys();
  const statement = (claims: Record<string, unknown>) =>
    new SignJWT({ iss: ISSUER, iat: Math.floor(Date.now() / 1000), software_id: 'sw-1', org_id: 'org-9', org_status: 'Active', software_roles: ['ACCOUNTS'], ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'd1' })
      .sign(directoryKey.privateKey);
  const input = async (claims: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
    format: 'json' as const,
    certificate,
    body: { token_endpoint_auth_method: 'private_key_jwt', jwks: keys.jwks, redirect_uris: ['https://tpp.example/cb'], software_statement: await statement(claims), ...metadata },
  });

  const { record, accessToken } = await registrations.create(await input());
  t.equal(record.metadata.scope, 'openid accounts', 'no scope requested: every scope the roles allow');
  t.equal(record.metadata.client_name, 'org org-9', 'metadata the pack decides');
  t.equal(seen[0].claims.org_id, 'org-9', 'the pack sees the verified claims');
  t.match(seen[0].subject, /CN=client-one/, 'and the presented certificate');
  const response = registrations.response(record, accessToken);
  t.equal(response.org_software, 'sw-1', 'extra response fields');
  t.equal(response.registration_access_token, accessToken);

  t.match(await refusal(registrations.create(await input())), { error: 'invalid_client_metadata', description: /software_id "sw-1" is registered already/ }, 'a second registration of one software_id');
  t.match(await refusal(registrations.create(await input({ software_id: 'sw-2', software_roles: [] }, { scope: 'openid accounts' }))), { error: 'invalid_client_metadata', description: /scope "accounts" is not allowed/ }, 'a scope the roles do not give');
  t.match(await refusal(registrations.create(await input({ software_id: 'sw-3', org_status: 'Inactive' }))), { error: 'unapproved_software_statement' }, 'the pack refuses');
  t.match(await refusal(registrations.update(record, await input({ software_id: 'sw-4' }))), { error: 'invalid_client_metadata', description: /software_id cannot change/ }, 'the software_id stays');

  await registrations.remove(record.metadata.client_id);

  const again = await registrations.create(await input());
  t.ok(again.record.metadata.client_id, 'after a deletion the software_id may register again');
  t.not(again.record.metadata.client_id, record.metadata.client_id, 'as a new client');
});
