// The Brazil DCR plan's pieces of the conformance runner, without the suite: the stand-in Directory
// answers as the suite expects (discovery, a token over mutual TLS, a PS256 statement for the
// certificate's ids, the keys), its certificate carries what the Brazil registration reads, and the
// gateway config it runs with passes the gateway's own validation.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import { createContext } from '../src/app.js';
import { loadConfigFile } from '../src/config/load.js';
import { ensurePki, readPki } from '../conformance/pki.js';
import { DEFAULT_PORTS, localEndpoints } from '../conformance/description.js';
import { BRAZIL_DCR_VARIANTS, brazilDcrGatewayConfig, brazilDcrRedirectUris, brazilDcrSuiteConfig } from '../conformance/brazil-dcr.js';
import { DIRECTORY_ISSUER, ensureBrazilDcrPki, expectedFailures, startStandInDirectory } from '../conformance/brazil-directory.js';
import { certificateIdentity } from '../src/ecosystems/brazil/registration/certificate-identity.js';
import { x509 } from '../src/tls/x509.js';
import { freePort } from './helpers/ports.js';

t.test('the stand-in Directory, its certificate and the gateway config of the Brazil DCR run', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-brazil-dcr-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files = await ensurePki(path.join(dir, 'pki'));
  const pki = await readPki(files);
  const brazil = await ensureBrazilDcrPki(files.dir);
  t.same(await ensureBrazilDcrPki(files.dir), brazil, 'made once');
  const ports = { ...DEFAULT_PORTS, directory: await freePort() };
  const endpoints = localEndpoints(ports);
  const variant = BRAZIL_DCR_VARIANTS[0];

  const identity = certificateIdentity(new x509.X509Certificate(await readFile(brazil.cert, 'utf8')));
  t.same(identity, { softwareId: brazil.softwareId, organisationId: brazil.orgId }, 'the certificate carries the ids the registration reads');

  const directory = await startStandInDirectory({ port: ports.directory, serverCert: files.serverChain, serverKey: files.serverKey, caPem: pki.caPem, files: brazil, redirectUris: brazilDcrRedirectUris(endpoints, variant) });
  t.teardown(() => directory.close());
  const agent = new Agent({ connect: { ca: pki.caPem, cert: await readFile(brazil.cert), key: await readFile(brazil.key) } });
  const anonymous = new Agent({ connect: { ca: pki.caPem } });
  t.teardown(() => Promise.all([agent.close(), anonymous.close()]));
  const get = async (url: string, headers: Record<string, string> = {}, via = agent) => {
    const res = await request(url, { headers, dispatcher: via });
    return { status: res.statusCode, type: res.headers['content-type'], text: await res.body.text() };
  };
  const discovery = JSON.parse((await get(`${directory.base}/.well-known/openid-configuration`)).text);
  t.equal(discovery.token_endpoint, `${directory.base}/token`);
  const form = 'grant_type=client_credentials&scope=directory%3Asoftware&client_id=conformance-directory-client';
  const refused = await request(discovery.token_endpoint, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' }, dispatcher: anonymous });
  t.equal(refused.statusCode, 401, 'the token endpoint needs a client certificate');
  await refused.body.text();
  const token = await request(discovery.token_endpoint, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' }, dispatcher: agent });
  const { access_token: accessToken, token_type: tokenType } = (await token.body.json()) as Record<string, string>;
  t.equal(tokenType, 'Bearer');
  const assertionUrl = `${directory.base}/organisations/${brazil.orgId}/softwarestatements/${brazil.softwareId}/assertion`;
  t.equal((await get(assertionUrl)).status, 401, 'the assertion needs the token');
  const ssa = await get(assertionUrl, { authorization: `Bearer ${accessToken}` });
  t.equal(ssa.type, 'application/jwt');
  const jwks = JSON.parse((await get(directory.jwksUri)).text);
  const { payload, protectedHeader } = await jwtVerify(ssa.text, createLocalJWKSet(jwks), { issuer: DIRECTORY_ISSUER, algorithms: ['PS256'] });
  t.equal(protectedHeader.alg, 'PS256');
  t.match(payload, { software_id: brazil.softwareId, org_id: brazil.orgId, org_status: 'Active' });
  t.same(payload.software_redirect_uris, brazilDcrRedirectUris(endpoints, variant));
  const softwareKeys = JSON.parse((await get(payload.software_jwks_uri as string)).text);
  const suite = await brazilDcrSuiteConfig(variant, pki, brazil, { endpoints, ports });
  t.same(softwareKeys.keys.map((k: { kid: string; n: string }) => [k.kid, k.n]), (suite.client as any).jwks.keys.map((k: { kid: string; n: string }) => [k.kid, k.n]), "the software's JWKS is the suite client's public keys");
  t.notOk(softwareKeys.keys.some((k: Record<string, unknown>) => 'd' in k), 'public keys only');
  t.match(suite, { directory: { apibase: `${directory.base}/`, client_id: 'conformance-directory-client' }, resource: { brazilCpf: /^\d{11}$/ } });
  t.equal(expectedFailures().length, 2, 'the two sandbox-URL checks are expected to fail');

  const config = path.join(dir, 'gateway-brazil-dcr.yaml');
  await writeFile(config, JSON.stringify(brazilDcrGatewayConfig({ pki, files, ports })));
  const context = await createContext(await loadConfigFile(config, {}));
  t.teardown(() => context.store.close());
  t.equal(context.profile.ecosystem, 'brazil');
  t.ok(context.config.registration.enabled);
});
