// The Helm chart (issue 7): `helm lint` is clean, every example renders into objects that are valid
// Kubernetes (kubernetes-models schemas, no unknown fields), the key facts hold (probes on the ops
// port, nobody runs as root, read-only root filesystem, the Secrets are mounted where the config
// says, config changes roll the pods, HPA/PDB/ServiceMonitor/dashboard where enabled, the ingress
// modes, the login modes' interaction listener and Secrets, the grant management admin listener),
// and the config rendered into the ConfigMap passes `fapi-gateway check`.
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parse, stringify } from 'yaml';
import { ensureDevPki, type DevPki } from '../src/devpki/dev-pki.js';
import { CHART, helm, renderChart, ROOT, validateObject, type KubeObject } from './helpers/kube.js';
import { IMAGE_ALLOCATOR_ENV, IMAGE_NODE_FLAGS } from './helpers/image-env.js';
import { requireProgram } from './helpers/programs.js';
import { FAPI_TLS_POLICY } from '../src/tls/policy.js';
import { ConfigSchema } from '../src/config/schema.js';

const EXAMPLES = path.join(CHART, 'examples');
const CONFIG_PATH = '/etc/fapi-gateway/config.yaml';
const HSM_SIGNER =
  'gateway.signer.type=pkcs11,gateway.signer.module=/usr/lib/softhsm/libsofthsm2.so,gateway.signer.tokenLabel=fapi-gateway,' +
  'gateway.signer.keys[0].kid=hsm-ps256,gateway.signer.keys[0].alg=PS256,gateway.signer.keys[0].label=gateway-ps256,secrets.hsmPin.name=hsm-pin';

interface Case {
  name: string;
  args: string[];
  values: Record<string, any>;
}

if (requireProgram(t, 'helm', 'the pinned release is built by .ci/run: go install helm.sh/helm/v3/cmd/helm@v3.22.0')) {
  let work: string;
  let pki: DevPki;
  const cases: Case[] = [];

  t.before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'fapi-helm-'));
    pki = await ensureDevPki(path.join(work, 'pki'));
    const defaults = parse(await readFile(path.join(CHART, 'values.yaml'), 'utf8'));
    cases.push({ name: 'default values', args: [], values: defaults });
    for (const file of (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml')).sort()) {
      const values = mergeValues(defaults, parse(await readFile(path.join(EXAMPLES, file), 'utf8')));
      cases.push({ name: `examples/${file}`, args: ['-f', path.join(EXAMPLES, file)], values });
    }
    // A profile of the deployment's own, shipped in the ConfigMap.
    const customProfile = (await readFile(path.join(ROOT, 'profiles', 'fapi2.yaml'), 'utf8')).replace('name: fapi2', 'name: bank-own');
    const profileFile = path.join(work, 'custom-profile.yaml');
    await writeFile(profileFile, customProfile);
    cases.push({
      name: 'custom profile',
      args: ['--set-file', `gateway.customProfile=${profileFile}`],
      values: mergeValues(defaults, { gateway: { customProfile } }),
    });
  });
  t.teardown(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

  t.test('helm lint is clean for the defaults and every example', async (t) => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml'));
    t.ok(files.length >= 4, 'examples for fapi2, cdr, brazil and ha');
    for (const args of [[], ...files.map((f) => ['-f', path.join(EXAMPLES, f)])]) {
      const { stdout } = await helm(['lint', '--strict', CHART, ...args]);
      t.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, `lint ${args.join(' ') || '(defaults)'}`);
      t.notMatch(stdout, /\[(WARNING|ERROR)\]/, `no warnings: ${args.join(' ') || '(defaults)'}`);
    }
  });

  t.test('the values schema refuses typos and wrong types', async (t) => {
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.isuer=https://a.example']), /additional properties 'isuer'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'replicaCont=2']), /additional properties 'replicaCont'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'store.type=postgres']), /store\/type/);
    // A bare `y:` in a JWK is a boolean key in YAML 1.1: the schema says which member went missing.
    const badJwk = path.join(work, 'bad-jwk.yaml');
    await writeFile(badJwk, 'gateway:\n  clients:\n    - client_id: c\n      token_endpoint_auth_method: private_key_jwt\n      jwks:\n        keys:\n          - { kty: EC, crv: P-256, x: abc, y: def }\n');
    await t.rejects(helm(['template', 'x', CHART, '-f', badJwk]), /missing property 'y'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.ui.bankNmae=Example Bank']), /additional properties 'bankNmae'/);
  });

  t.test('the values of gateway.tracing, audit, ui and signer are the config\'s keys (the chart sets signer.pin)', async (t) => {
    const schema = JSON.parse(await readFile(path.join(CHART, 'values.schema.json'), 'utf8')).properties.gateway.properties;
    const config = ConfigSchema.properties;
    const keys = (o: { properties: Record<string, unknown> }) => Object.keys(o.properties).sort();
    t.same(keys(schema.tracing), keys(config.tracing), 'tracing');
    t.same(keys(schema.audit), keys(config.audit), 'audit');
    t.same(keys(schema.ui), keys(config.ui), 'ui');
    const signer = config.keys.properties.signer as unknown as { properties: Record<string, unknown> };
    t.same(keys(schema.signer), keys(signer).filter((k) => k !== 'pin'), 'signer');
  });

  t.test('combinations that cannot work are refused at render time', async (t) => {
    await t.rejects(helm(['template', 'x', CHART, '--set', 'replicaCount=3']), /use store.type redis/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'store.type=redis']), /urlSecret.name/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'ingress.enabled=true,ingress.mode=terminate']), /forwardedClientCertificate/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'terminationGracePeriodSeconds=20']), /must exceed/);
    await t.rejects(
      helm(['template', 'x', CHART, '--set', 'gateway.interaction.mode=external']),
      /gateway\.interaction\.mode external needs secrets\.interactionClientCA\.name/,
      'external login without the login apps\' CA',
    );
    const oidc = 'gateway.interaction.mode=oidc,gateway.interaction.issuer=https://idp.bank.example,gateway.interaction.client_id=gw,gateway.interaction.acrValues[0]=loa2';
    await t.rejects(helm(['template', 'x', CHART, '--set', `${oidc},gateway.interaction.clientAuth=private_key_jwt`]), /secrets\.upstreamLogin\.clientKey\.name/);
    await t.rejects(helm(['template', 'x', CHART, '--set', `${oidc},gateway.interaction.clientAuth=tls_client_auth`]), /secrets\.upstreamLogin\.clientCertificate\.name/);
    await t.rejects(
      helm(['template', 'x', CHART, '--set', 'gateway.grantManagement.admin.auth=mtls']),
      /gateway\.grantManagement\.admin\.auth mtls needs secrets\.adminClientCA\.name/,
      'the mtls admin API without the back office\'s CA',
    );
    // The chart sets the file paths from the mounted Secrets; a path of the operator's own is refused.
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.interaction.clientCAs[0]=/ca.pem']), /additional properties 'clientCAs'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.grantManagement.admin.clientCAs[0]=/ca.pem']), /additional properties 'clientCAs'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.grantManagement.admin.auth=cert']), /grantManagement\/admin\/auth/);
    await t.rejects(
      helm(['template', 'x', CHART, '--set', `${HSM_SIGNER},secrets.hsmPin.name=`]),
      /gateway\.signer needs secrets\.hsmPin\.name/,
      'an HSM signer without its PIN\'s Secret',
    );
    // The PIN is the chart's to set (from the Secret), never a value.
    await t.rejects(helm(['template', 'x', CHART, '--set', `${HSM_SIGNER},gateway.signer.pin.env=PIN`]), /additional properties 'pin'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.tracing.protocol=grpc']), /tracing\/protocol/);
    // A signer names at least its type, module and keys; the new Secrets' names are Kubernetes names.
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gateway.signer.type=pkcs11,secrets.hsmPin.name=hsm-pin']), /missing propert(y|ies) 'module'/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'secrets.dpopNonceKey.name=Nonce_Key']), /dpopNonceKey\/name/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'secrets.uiFiles.name=Bank Branding']), /uiFiles\/name/);
  });

  t.test('tracing, audit and the pages\' settings reach the config; their files and the DPoP nonce key come from Secrets', async (t) => {
    // A values file: `--set` would pass the ratio as a string.
    const values = path.join(work, 'settings.yaml');
    await writeFile(
      values,
      stringify({
        gateway: {
          tracing: { enabled: true, endpoint: 'http://otel-collector.observability:4318/v1/traces', sampleRatio: 0.25 },
          audit: { maxBufferBytes: 1048576 },
          ui: { bankName: 'Example Bank', primaryColor: '#0b5394' },
        },
        secrets: { uiFiles: { name: 'bank-branding' }, dpopNonceKey: { name: 'dpop-nonce' } },
      }),
    );
    const objects = await renderChart({ args: ['-f', values] });
    const config = renderedConfig(objects);
    t.same(config.tracing, { enabled: true, endpoint: 'http://otel-collector.observability:4318/v1/traces', sampleRatio: 0.25 }, 'tracing');
    t.same(config.audit, { maxBufferBytes: 1048576 }, 'audit');
    t.same(config.ui, { bankName: 'Example Bank', primaryColor: '#0b5394' }, 'ui');
    const spec = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
    const [container] = spec.containers;
    t.same(
      container.volumeMounts.find((m: any) => m.name === 'ui-files'),
      { name: 'ui-files', mountPath: '/etc/fapi-gateway/ui', readOnly: true },
      'the pages\' files at /etc/fapi-gateway/ui',
    );
    t.equal(spec.volumes.find((v: any) => v.name === 'ui-files')?.secret?.secretName, 'bank-branding', 'from the Secret');
    t.same(
      container.env.find((e: any) => e.name === 'FAPI_GATEWAY_DPOP_NONCE_KEY')?.valueFrom,
      { secretKeyRef: { name: 'dpop-nonce', key: 'dpop-nonce-key' } },
      'the DPoP nonce key from its Secret',
    );
    t.notMatch(configMapText(objects), /nonceKey/, 'never in the ConfigMap');
    for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
    const { code, stdout, stderr } = await checkRenderedConfig(objects, path.join(work, 'check-settings'), pki);
    t.equal(code, 0, `fapi-gateway check: ${stdout.trim() || stderr.trim()}`);

    const defaults = await renderChart();
    const defaultConfig = renderedConfig(defaults);
    t.notOk(['tracing', 'audit', 'ui'].some((k) => k in defaultConfig), 'none of them by default');
    t.notMatch(JSON.stringify(defaults), /ui-files|DPOP_NONCE|HSM_PIN/, 'no mount or variable by default');
  });

  t.test('gateway.signer: keys in an HSM, the PIN from a Secret, no signing-keys mount', async (t) => {
    const objects = await renderChart({ args: ['--set', HSM_SIGNER] });
    const config = renderedConfig(objects);
    t.same(
      config.keys,
      {
        signer: {
          type: 'pkcs11',
          module: '/usr/lib/softhsm/libsofthsm2.so',
          tokenLabel: 'fapi-gateway',
          keys: [{ kid: 'hsm-ps256', alg: 'PS256', label: 'gateway-ps256' }],
          pin: { env: 'FAPI_GATEWAY_HSM_PIN' },
        },
      },
      'keys.signer with the PIN\'s variable, no keys.signing',
    );
    const spec = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
    const [container] = spec.containers;
    t.same(
      container.env.find((e: any) => e.name === 'FAPI_GATEWAY_HSM_PIN')?.valueFrom,
      { secretKeyRef: { name: 'hsm-pin', key: 'pin' } },
      'the PIN from its Secret',
    );
    t.notOk(spec.volumes.some((v: any) => v.name === 'signing-keys'), 'no signing-keys volume');
    t.notOk(container.volumeMounts.some((m: any) => m.name === 'signing-keys'), 'nor its mount');
    t.notMatch(configMapText(objects), /signing-keys\.jwks/, 'no keys file in the config');
    for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
  });

  t.test('interaction.mode external: a ClusterIP Service, the port, the CA mount and a closed NetworkPolicy rule', async (t) => {
    const base = ['--set', 'gateway.interaction.mode=external,gateway.interaction.loginUrl=https://login.bank.example/,gateway.interaction.acrValues[0]=loa2,secrets.interactionClientCA.name=login-ca,secrets.interactionClientCA.key=apps.pem,networkPolicy.enabled=true'];
    const objects = await renderChart({ args: base });
    for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
    const config = renderedConfig(objects);
    const deployment = only(t, objects, 'Deployment');
    const [container] = deployment.spec.template.spec.containers;
    t.same(config.listeners.interaction, { host: '0.0.0.0', port: 8445 }, 'the interaction listener');
    t.same(config.interaction.clientCAs, ['/etc/fapi-gateway/interaction-ca/apps.pem'], 'trusts the mounted CA only');
    t.ok(container.ports.some((p: any) => p.name === 'interaction' && p.containerPort === 8445), 'named container port');
    const mount = resolveConfigFiles(objects).find((m) => m.key === 'interaction.clientCAs[0]');
    t.same([mount?.source, mount?.sourceKey], ['secret/login-ca', 'apps.pem'], 'from the login apps\' CA Secret');
    t.ok(container.volumeMounts.find((m: any) => m.mountPath === '/etc/fapi-gateway/interaction-ca')?.readOnly, 'mounted read-only');
    const service = only(t, objects, 'Service', `${deployment.metadata.name}-interaction`);
    t.equal(service.spec.type, 'ClusterIP', 'never exposed outside the cluster');
    t.same(service.spec.ports.map((p: any) => [p.port, p.targetPort]), [[443, 'interaction']], 'targets the interaction port');
    t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'selects the pods');
    const rule = (np: KubeObject) => np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 'interaction'));
    const policy = only(t, objects, 'NetworkPolicy');
    t.same(rule(policy).from, [{ podSelector: {} }], 'by default only pods of the release namespace');
    t.notOk(policy.spec.ingress.some((r: any) => r !== rule(policy) && r.ports.some((p: any) => p.port === 'interaction')), 'in no other rule');
    const peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'login' } }, podSelector: { matchLabels: { app: 'bank-login' } } };
    const peersFile = path.join(work, 'interaction-from.yaml');
    await writeFile(peersFile, stringify({ networkPolicy: { interactionFrom: [peer] } }));
    t.same(rule(only(t, await renderChart({ args: [...base, '-f', peersFile] }), 'NetworkPolicy')).from, [peer], 'networkPolicy.interactionFrom');
    // In no Ingress, whatever the ingress mode.
    const withIngress = await renderChart({ args: [...base, '--set', 'ingress.enabled=true'] });
    for (const i of withIngress.filter((o) => o.kind === 'Ingress'))
      t.notMatch(JSON.stringify(i.spec), /interaction/, `${i.metadata.name} does not route to the interaction Service`);
    t.notMatch(configMapText(objects), /BEGIN/, 'nothing secret in the ConfigMap');
  });

  t.test('grantManagement.admin.auth mtls: a ClusterIP Service, the port, the CA mount and a closed NetworkPolicy rule', async (t) => {
    const base = ['--set', 'gateway.grantManagement.admin.auth=mtls,secrets.adminClientCA.name=back-office-ca,secrets.adminClientCA.key=office.pem,networkPolicy.enabled=true'];
    const objects = await renderChart({ args: base });
    for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
    const config = renderedConfig(objects);
    const deployment = only(t, objects, 'Deployment');
    const [container] = deployment.spec.template.spec.containers;
    t.same(config.listeners.admin, { host: '0.0.0.0', port: 8446 }, 'the admin listener');
    t.same(config.grantManagement.admin, { auth: 'mtls', clientCAs: ['/etc/fapi-gateway/admin-ca/office.pem'] }, 'trusts the mounted CA only');
    t.ok(container.ports.some((p: any) => p.name === 'admin' && p.containerPort === 8446), 'named container port');
    const mount = resolveConfigFiles(objects).find((m) => m.key === 'grantManagement.admin.clientCAs[0]');
    t.same([mount?.source, mount?.sourceKey], ['secret/back-office-ca', 'office.pem'], 'from the back office\'s CA Secret');
    t.ok(container.volumeMounts.find((m: any) => m.mountPath === '/etc/fapi-gateway/admin-ca')?.readOnly, 'mounted read-only');
    const [plain] = only(t, await renderChart(), 'Deployment').spec.template.spec.containers;
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) t.same(container[probe], plain[probe], `${probe} unchanged`);
    const service = only(t, objects, 'Service', `${deployment.metadata.name}-admin`);
    t.equal(service.spec.type, 'ClusterIP', 'never exposed outside the cluster');
    t.same(service.spec.ports.map((p: any) => [p.port, p.targetPort]), [[443, 'admin']], 'targets the admin port');
    t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'selects the pods');
    const rule = (np: KubeObject) => np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 'admin'));
    const policy = only(t, objects, 'NetworkPolicy');
    t.same(rule(policy).from, [{ podSelector: {} }], 'by default only pods of the release namespace');
    t.notOk(policy.spec.ingress.some((r: any) => r !== rule(policy) && r.ports.some((p: any) => p.port === 'admin')), 'in no other rule');
    const peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'back-office' } }, podSelector: { matchLabels: { app: 'connected-apps' } } };
    const peersFile = path.join(work, 'admin-from.yaml');
    await writeFile(peersFile, stringify({ networkPolicy: { adminFrom: [peer] } }));
    t.same(rule(only(t, await renderChart({ args: [...base, '-f', peersFile] }), 'NetworkPolicy')).from, [peer], 'networkPolicy.adminFrom');
    // In no Ingress and no Gateway API route, whatever their mode.
    const gatewayApi = ['--set', 'gatewayApi.enabled=true,gatewayApi.parentRefs[0].name=bank-gateway'];
    const terminate = ['--set', 'gateway.forwardedClientCertificate.enabled=true,gateway.forwardedClientCertificate.trustedProxies[0]=10.0.8.0/24'];
    for (const args of [
      ['--set', 'ingress.enabled=true', ...gatewayApi],
      ['--set', 'ingress.enabled=true,ingress.mode=terminate,gatewayApi.mode=terminate,gatewayApi.backendTLS.caConfigMap=ca,gatewayApi.backendTLS.hostname=gw.bank.svc', ...gatewayApi, ...terminate],
    ]) {
      const exposed = (await renderChart({ args: [...base, ...args] })).filter((o) => o.kind === 'Ingress' || o.apiVersion.startsWith('gateway.networking.k8s.io/'));
      t.ok(exposed.length >= 4, 'Ingresses and routes rendered');
      for (const o of exposed) t.notMatch(JSON.stringify(o.spec), /admin/, `${o.kind} ${o.metadata.name} does not route to the admin Service`);
    }
    t.notMatch(configMapText(objects), /BEGIN/, 'nothing secret in the ConfigMap');
  });

  t.test('grantManagement.admin.auth off or token renders no admin listener', async (t) => {
    for (const auth of [undefined, 'off', 'token']) {
      const objects = await renderChart({ args: ['--set', `networkPolicy.enabled=true${auth ? `,gateway.grantManagement.admin.auth=${auth}` : ''}`] });
      const config = renderedConfig(objects);
      t.equal(config.grantManagement?.admin?.auth, auth, `auth ${auth ?? '(default)'} passed as it is`);
      t.notOk(config.grantManagement?.admin?.clientCAs, 'no admin CA');
      t.notOk(config.listeners.admin, 'no admin listener');
      const { data: _config, ...rest } = only(t, objects, 'ConfigMap', 'fgw-fapi-gateway');
      t.notMatch(JSON.stringify([rest, ...objects.filter((o) => o.kind !== 'ConfigMap')]), /admin/, 'no admin Service, port, mount or NetworkPolicy rule');
    }
  });

  t.test('interaction.mode oidc: the provider\'s key, certificate and CA from Secrets', async (t) => {
    const oidc = 'gateway.interaction.mode=oidc,gateway.interaction.issuer=https://idp.bank.example,gateway.interaction.client_id=gw,gateway.interaction.acrValues[0]=loa2,secrets.upstreamLogin.ca.name=idp-ca';
    const keyed = await renderChart({ args: ['--set', `${oidc},gateway.interaction.clientAuth=private_key_jwt,secrets.upstreamLogin.clientKey.name=idp-key`] });
    let config = renderedConfig(keyed);
    t.equal(config.interaction.clientKey, '/etc/fapi-gateway/upstream-login-key/client-key.jwk.json', 'clientKey path');
    t.equal(config.interaction.ca, '/etc/fapi-gateway/upstream-login-ca/ca.crt', 'ca path');
    t.notOk(config.interaction.clientCertificate, 'no client certificate with private_key_jwt');
    t.notOk(config.listeners.interaction, 'no interaction listener');
    let sources = Object.fromEntries(resolveConfigFiles(keyed).map((m) => [m.key, m.source]));
    t.same([sources['interaction.clientKey'], sources['interaction.ca']], ['secret/idp-key', 'secret/idp-ca'], 'mounted from the Secrets');
    t.notOk(keyed.some((o) => o.kind === 'Service' && o.metadata.name.endsWith('-interaction')), 'no interaction Service');
    const certified = await renderChart({ args: ['--set', `${oidc},gateway.interaction.clientAuth=tls_client_auth,secrets.upstreamLogin.clientCertificate.name=idp-cert`] });
    config = renderedConfig(certified);
    t.same(config.interaction.clientCertificate, { cert: '/etc/fapi-gateway/upstream-login-cert/tls.crt', key: '/etc/fapi-gateway/upstream-login-cert/tls.key' }, 'clientCertificate paths');
    t.notOk(config.interaction.clientKey, 'no key file with tls_client_auth');
    sources = Object.fromEntries(resolveConfigFiles(certified).map((m) => [m.key, m.source]));
    t.same([sources['interaction.clientCertificate.cert'], sources['interaction.clientCertificate.key']], ['secret/idp-cert', 'secret/idp-cert'], 'mounted from the kubernetes.io/tls Secret');
    for (const objects of [keyed, certified]) {
      for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
      t.notMatch(configMapText(objects), /BEGIN|"d":/, 'nothing secret in the ConfigMap');
    }
  });

  t.test('interaction.mode builtin renders nothing new', async (t) => {
    const objects = await renderChart({ args: ['--set', 'networkPolicy.enabled=true'] });
    const config = renderedConfig(objects);
    t.notOk('interaction' in config, 'no interaction section');
    t.notOk(config.listeners.interaction, 'no interaction listener');
    t.notMatch(JSON.stringify(objects), /interaction/, 'no interaction Service, port, mount or NetworkPolicy rule');
  });

  t.test('every case renders valid Kubernetes objects with the key facts', async (t) => {
    for (const c of cases) {
      await t.test(c.name, async (t) => {
        const objects = await renderChart({ args: c.args });
        for (const o of objects) t.same(validateObject(o), [], `${o.kind} ${o.metadata.name} is valid`);
        checkFacts(t, objects, c.values);
      });
    }
  });

  t.test('the rendered config passes fapi-gateway check', async (t) => {
    const results = await Promise.all(
      cases.map(async (c, i) => {
        const objects = await renderChart({ args: c.args });
        return { c, ...(await checkRenderedConfig(objects, path.join(work, `check-${i}`), pki)) };
      }),
    );
    for (const { c, code, stdout, stderr } of results)
      t.equal(code, 0, `${c.name}: ${stdout.trim() || stderr.trim()}`);
  });

  t.test('a config change rolls the pods, other changes do not', async (t) => {
    const checksum = async (args: string[]) =>
      (await renderChart({ args })).find((o) => o.kind === 'Deployment')!.spec.template.metadata.annotations['checksum/config'];
    const base = await checksum([]);
    t.not(await checksum(['--set', 'gateway.log.level=debug']), base, 'log level');
    t.not(await checksum(['--set', 'gateway.activeKeys[0]=key-2']), base, 'active signing key');
    t.equal(await checksum(['--set', 'resources.requests.cpu=2']), base, 'resources alone');
  });

  t.test('NOTES.txt renders for every case', async (t) => {
    // helm template leaves NOTES.txt out and `helm install --dry-run` wants a cluster: render it as a
    // named template inside a copy of the chart.
    const copy = path.join(work, 'notes-chart');
    await cp(CHART, copy, { recursive: true });
    const notes = await readFile(path.join(copy, 'templates', 'NOTES.txt'), 'utf8');
    await rm(path.join(copy, 'templates', 'NOTES.txt'));
    await writeFile(path.join(copy, 'templates', '_notes-check.tpl'), `{{- define "notes-check" -}}\n${notes}\n{{- end }}\n`);
    await writeFile(
      path.join(copy, 'templates', 'notes-check.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-check\ndata:\n  notes: {{ include "notes-check" . | quote }}\n',
    );
    for (const c of cases) {
      const { stdout } = await helm(['template', 'fgw', copy, '--namespace', 'bank', '--show-only', 'templates/notes-check.yaml', ...c.args]);
      const text: string = parse(stdout).data.notes;
      t.match(text, new RegExp(`issuer \\(public listener\\): ${c.values.gateway.issuer.replaceAll('.', '\\.')}`), `${c.name}: names the issuer`);
      t.match(text, /kubectl -n bank rollout status deployment\/fgw-fapi-gateway/, `${c.name}: says how to watch the rollout`);
      t.match(text, new RegExp(c.values.secrets.signingKeys.name), `${c.name}: lists the Secrets to create`);
      if (c.values.gateway.interaction.mode === 'external') {
        t.match(text, new RegExp(`${c.values.secrets.interactionClientCA.name} +\\(key`), `${c.name}: lists the login apps' CA Secret`);
        t.match(text, /interaction API: https:\/\/fgw-fapi-gateway-interaction\.bank\.svc:443, inside the cluster only/, `${c.name}: names the interaction Service`);
      }
      if (c.values.gateway.grantManagement.admin?.auth === 'mtls') {
        t.match(text, new RegExp(`${c.values.secrets.adminClientCA.name} +\\(key`), `${c.name}: lists the back office's CA Secret`);
        t.match(text, /grant management API: +mtls \(https:\/\/fgw-fapi-gateway-admin\.bank\.svc:443\/admin\/grants, inside the cluster only\)/, `${c.name}: names the admin Service`);
      }
    }
    const set = `${HSM_SIGNER},secrets.dpopNonceKey.name=dpop-nonce,secrets.uiFiles.name=bank-branding,secrets.pairwiseSecret.name=pairwise`;
    const { stdout } = await helm(['template', 'fgw', copy, '--namespace', 'bank', '--show-only', 'templates/notes-check.yaml', '--set', set]);
    const text: string = parse(stdout).data.notes;
    t.match(text, /hsm-pin +\(key pin: the HSM token's user PIN/, 'gateway.signer: lists the PIN\'s Secret');
    t.notMatch(text, /fapi-gateway-signing-keys/, 'and not the signing keys\' Secret');
    for (const name of ['dpop-nonce', 'bank-branding', 'pairwise']) t.match(text, new RegExp(`\n  ${name} +\\(`), `lists ${name}`);
  });

  t.test('the defaults: pods spread over zones and nodes, preferred not required', async (t) => {
    const deployment = (await renderChart()).find((o) => o.kind === 'Deployment')!;
    const constraints = deployment.spec.template.spec.topologySpreadConstraints;
    t.same(
      constraints.map((c: any) => [c.topologyKey, c.whenUnsatisfiable]),
      [['topology.kubernetes.io/zone', 'ScheduleAnyway'], ['kubernetes.io/hostname', 'ScheduleAnyway']],
      'a zone outage or a small cluster never leaves pods unscheduled',
    );
  });

  t.test('kubeVersion: the chart refuses clusters older than the features it uses', async (t) => {
    const chart = parse(await readFile(path.join(CHART, 'Chart.yaml'), 'utf8'));
    t.equal(chart.kubeVersion, '>=1.30.0-0', 'the preStop sleep action (1.30) and matchLabelKeys (1.27)');
    await t.rejects(helm(['template', 'x', CHART, '--kube-version', '1.29.9']), /kubeVersion/);
    const objects = await renderChart({ args: ['--kube-version', '1.30.0'] });
    t.ok(objects.some((o) => o.kind === 'Deployment'), '1.30 renders');
  });

  t.test('Gateway API: TLSRoutes (passthrough) or HTTPRoutes with BackendTLSPolicies (terminate), off by default', async (t) => {
    const parent = ['--set', 'gatewayApi.enabled=true', '--set', 'gatewayApi.parentRefs[0].name=bank-gateway', '--set', 'gatewayApi.parentRefs[0].namespace=gateway-system'];
    const gatewayObjects = (objects: KubeObject[]) => objects.filter((o) => o.apiVersion === 'gateway.networking.k8s.io/v1');
    t.same(gatewayObjects(await renderChart()), [], 'nothing by default');

    const passthrough = gatewayObjects(await renderChart({ args: [...parent, '--set', 'gatewayApi.mtls.sectionName=mtls-passthrough'] }));
    t.same(passthrough.map((o) => `${o.kind} ${o.metadata.name}`).sort(), ['TLSRoute fgw-fapi-gateway-mtls', 'TLSRoute fgw-fapi-gateway-public'], 'a TLSRoute per TLS listener');
    const route = (objects: KubeObject[], kind: string, listener: string) => objects.find((o) => o.kind === kind && o.metadata.name.endsWith(`-${listener}`))!;
    const mtls = route(passthrough, 'TLSRoute', 'mtls');
    t.same(mtls.spec.hostnames, ['mtls.auth.example.com'], 'the mtls host');
    t.same(mtls.spec.parentRefs, [{ name: 'bank-gateway', namespace: 'gateway-system', sectionName: 'mtls-passthrough' }], "attached to the Gateway's passthrough listener");
    t.same(route(passthrough, 'TLSRoute', 'public').spec.parentRefs, [{ name: 'bank-gateway', namespace: 'gateway-system' }], 'no sectionName unless given');
    t.same(mtls.spec.rules, [{ backendRefs: [{ name: 'fgw-fapi-gateway-mtls', port: 443 }] }], 'to the mtls Service');
    t.same(route(passthrough, 'TLSRoute', 'public').spec.rules[0].backendRefs, [{ name: 'fgw-fapi-gateway-public', port: 443 }], 'to the public Service');

    const terminate = [
      ...parent,
      '--set', 'gatewayApi.mode=terminate',
      '--set', 'gateway.forwardedClientCertificate.enabled=true',
      '--set', 'gateway.forwardedClientCertificate.header=x-forwarded-client-cert',
      '--set', 'gateway.forwardedClientCertificate.trustedProxies[0]=10.0.8.0/24',
      '--set', 'gatewayApi.backendTLS.caConfigMap=fapi-gateway-server-ca',
      '--set', 'gatewayApi.backendTLS.hostname=fapi-gateway.bank.svc',
    ];
    const terminated = await renderChart({ args: terminate });
    const http = gatewayObjects(terminated);
    t.same(http.map((o) => `${o.kind} ${o.metadata.name}`).sort(), [
      'BackendTLSPolicy fgw-fapi-gateway-mtls',
      'BackendTLSPolicy fgw-fapi-gateway-public',
      'HTTPRoute fgw-fapi-gateway-mtls',
      'HTTPRoute fgw-fapi-gateway-public',
    ]);
    const httpRoute = route(http, 'HTTPRoute', 'public');
    t.same(httpRoute.spec.hostnames, ['auth.example.com']);
    t.same(httpRoute.spec.rules, [{ backendRefs: [{ name: 'fgw-fapi-gateway-public', port: 443 }], matches: [{ path: { type: 'PathPrefix', value: '/' } }] }], 'everything to the public Service');
    const policy = route(http, 'BackendTLSPolicy', 'mtls');
    t.same(policy.spec, {
      targetRefs: [{ group: '', kind: 'Service', name: 'fgw-fapi-gateway-mtls', sectionName: 'mtls' }],
      validation: { caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'fapi-gateway-server-ca' }], hostname: 'fapi-gateway.bank.svc' },
    }, 'TLS from the Gateway to the pods, verified');
    const config = parse(terminated.find((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])!.data['config.yaml']);
    t.same(config.tls.forwardedClientCertificate, { header: 'x-forwarded-client-cert', trustedProxies: ['10.0.8.0/24'] }, 'the certificate header, from the Gateway only');
    const noPolicy = gatewayObjects(await renderChart({ args: [...terminate, '--set', 'gatewayApi.backendTLS.enabled=false'] }));
    t.notOk(noPolicy.some((o) => o.kind === 'BackendTLSPolicy'), 'BackendTLSPolicies can be left to the Gateway owner');

    await t.rejects(helm(['template', 'x', CHART, '--set', 'gatewayApi.enabled=true']), /gatewayApi\.parentRefs must name the Gateway/);
    await t.rejects(helm(['template', 'x', CHART, ...parent, '--set', 'gatewayApi.mode=terminate']), /gatewayApi\.mode terminate: .*forwardedClientCertificate/);
    await t.rejects(helm(['template', 'x', CHART, ...terminate.slice(0, -4)]), /gatewayApi\.backendTLS needs caConfigMap/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gatewayApi.mode=tcp']), /gatewayApi\/mode/);
    await t.rejects(helm(['template', 'x', CHART, '--set', 'gatewayApi.parentRef.name=x']), /additional properties 'parentRef'/);
  });

  t.test('the unknown-field check does catch a typo', async (t) => {
    const [deployment] = (await renderChart()).filter((o) => o.kind === 'Deployment');
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    t.match(validateObject(deployment), [/unknown field spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem/]);
  });
}

// The TLS 1.2 suites of the FAPI 2.0 policy the gateway applies on its own listeners.
const TLS12_SUITES = String(FAPI_TLS_POLICY.ciphers).split(':').filter((suite) => !suite.startsWith('TLS_'));

/** Helm's coalescing of values files over the defaults, for the maps the facts read. */
function mergeValues(base: any, over: any): any {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeValues(base[k], v);
  return out;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function only(t: Test, objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  t.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0];
}

function configMapText(objects: KubeObject[]): string {
  return JSON.stringify(objects.find((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])!.data);
}

function renderedConfig(objects: KubeObject[]): Record<string, any> {
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])!;
  return parse(configMap.data['config.yaml']);
}

function checkFacts(t: Test, objects: KubeObject[], values: Record<string, any>): void {
  const deployment = only(t, objects, 'Deployment');
  const configMap = only(t, objects, 'ConfigMap', deployment.metadata.name);
  const config = renderedConfig(objects);
  const pod = deployment.spec.template;
  const spec = pod.spec;
  t.equal(spec.containers.length, 1, 'one container');
  const [container] = spec.containers;
  t.same(container.args, ['node', ...IMAGE_NODE_FLAGS, 'dist/main.js', '--config', CONFIG_PATH], 'runs node directly (with the image\'s flags) and the mounted config');

  // Listeners bound for the pod network, each a named container port.
  const ports = Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]));
  for (const listener of ['public', 'mtls', 'ops'] as const) {
    t.equal(config.listeners[listener].host, '0.0.0.0', `${listener} listener binds all addresses`);
    t.equal(ports[listener], config.listeners[listener].port, `${listener} container port is the listener's port`);
  }
  t.equal(config.issuer, values.gateway.issuer, 'issuer');
  t.equal(config.listeners.mtls.url, values.gateway.mtlsUrl, 'external mTLS URL');

  // Probes: the ops listener, /healthz for liveness and startup, /readyz for readiness.
  const opsPort = (port: unknown) => port === 'ops' || port === config.listeners.ops.port;
  for (const [probe, pathname] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
    t.ok(opsPort(container[probe]?.httpGet?.port), `${probe} on the ops port`);
    t.equal(container[probe]?.httpGet?.path, pathname, `${probe} path`);
    t.notOk(container[probe]?.httpGet?.scheme && container[probe].httpGet.scheme !== 'HTTP', `${probe} is plain HTTP`);
  }

  // Nobody runs as root; the root filesystem is read-only; no privileges.
  const podSc = spec.securityContext ?? {};
  const sc = container.securityContext ?? {};
  t.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true, 'runAsNonRoot');
  const uid = sc.runAsUser ?? podSc.runAsUser;
  t.ok(typeof uid === 'number' && uid !== 0, `runs as a non-zero uid (${uid})`);
  t.equal(uid, 10001, 'the image user');
  t.equal(sc.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
  t.equal(sc.allowPrivilegeEscalation, false, 'no privilege escalation');
  t.ok(sc.capabilities?.drop?.includes('ALL'), 'drops all capabilities');
  t.notOk(sc.capabilities?.add?.length, 'adds none');
  t.equal((sc.seccompProfile ?? podSc.seccompProfile)?.type, 'RuntimeDefault', 'seccomp RuntimeDefault');
  t.equal(spec.automountServiceAccountToken, false, 'no API token in the pod');
  t.notOk(spec.hostNetwork, 'no host network');

  // Config changes roll the pods.
  const checksum = pod.metadata.annotations?.['checksum/config'];
  t.match(checksum, /^[0-9a-f]{64}$/, 'checksum/config annotation');

  // The pod outlives the gateway's drain.
  const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
  t.ok(spec.terminationGracePeriodSeconds > config.shutdown.graceSeconds + preStop, `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} > drain ${config.shutdown.graceSeconds} + preStop ${preStop}`);

  // Every file the config names is mounted from the right Secret (or the ConfigMap).
  const mounts = resolveConfigFiles(objects);
  const expected: Record<string, string> = {
    'tls.cert': values.secrets.serverTls.name,
    'tls.key': values.secrets.serverTls.name,
    'tls.clientCAs[0]': values.secrets.clientCA.name,
    'keys.signing': values.secrets.signingKeys.name,
  };
  if (config.store.type === 'redis' && values.store.redis.caSecret.name) expected['store.tls.ca'] = values.store.redis.caSecret.name;
  for (const [key, secretName] of Object.entries(expected)) {
    const mount = mounts.find((m) => m.key === key);
    t.ok(mount, `${key} is a mounted file`);
    t.equal(mount?.source, `secret/${secretName}`, `${key} comes from Secret ${secretName}`);
  }
  for (const m of mounts) t.ok(m.source, `${m.key} (${m.file}) is inside a mount`);
  const secretVolumes = spec.volumes.filter((v: any) => v.secret);
  for (const v of secretVolumes) t.ok(v.secret.defaultMode <= 0o440, `Secret volume ${v.name} is not world-readable`);
  t.ok(spec.volumes.some((v: any) => v.emptyDir) && container.volumeMounts.some((m: any) => m.mountPath === '/tmp'), 'a writable /tmp beside the read-only root');
  if (values.gateway.customProfile) {
    t.equal(config.profile, '/etc/fapi-gateway/profile.yaml', 'the custom profile is a mounted file');
    t.equal(configMap.data['profile.yaml'], values.gateway.customProfile, 'the custom profile is in the ConfigMap');
    t.equal(mounts.find((m) => m.key === 'profile')?.source, `configmap/${configMap.metadata.name}`, 'mounted from the ConfigMap');
  } else {
    t.equal(config.profile, values.gateway.profile, 'the profile shipped in the image');
  }

  t.equal(container.env?.find((e: any) => e.name === 'MALLOC_ARENA_MAX')?.value, IMAGE_ALLOCATOR_ENV.MALLOC_ARENA_MAX, 'the image\'s MALLOC_ARENA_MAX (RSS idle and after logins)');
  t.equal(container.env?.find((e: any) => e.name === 'GLIBC_TUNABLES')?.value, IMAGE_ALLOCATOR_ENV.GLIBC_TUNABLES, 'the image\'s GLIBC_TUNABLES (scrypt memory returned after each login)');

  // The store: Redis URL (with its password) only from a Secret.
  const redisEnv = container.env?.find((e: any) => e.name === 'FAPI_GATEWAY_REDIS_URL');
  if (values.store.type === 'redis') {
    t.equal(config.store.type, 'redis', 'redis store');
    t.notOk('url' in config.store, 'no Redis URL in the ConfigMap');
    t.same(redisEnv?.valueFrom?.secretKeyRef, { name: values.store.redis.urlSecret.name, key: values.store.redis.urlSecret.key }, 'FAPI_GATEWAY_REDIS_URL from the Secret');
  } else {
    t.same(config.store, { type: 'memory' }, 'memory store');
    t.notOk(redisEnv, 'no Redis URL');
    t.equal(deployment.spec.replicas, 1, 'the memory store keeps one replica');
  }

  // Services for the three listeners, each pointing at its named port.
  for (const listener of ['public', 'mtls', 'ops']) {
    const service = only(t, objects, 'Service', `${deployment.metadata.name}-${listener}`);
    t.equal(service.spec.ports[0].targetPort, listener, `${listener} Service targets the ${listener} port`);
    t.same(service.spec.selector, deployment.spec.selector.matchLabels, `${listener} Service selects the pods`);
  }
  t.equal(only(t, objects, 'Service', `${deployment.metadata.name}-ops`).spec.type, 'ClusterIP', 'ops stays inside the cluster');
  const interactionServices = objects.filter((o) => o.kind === 'Service' && o.metadata.name === `${deployment.metadata.name}-interaction`);
  if (values.gateway.interaction.mode === 'external') {
    t.equal(interactionServices[0]?.spec.type, 'ClusterIP', 'the interaction API stays inside the cluster');
    t.equal(ports.interaction, config.listeners.interaction.port, 'interaction container port is the listener\'s port');
    t.equal(config.listeners.interaction.host, '0.0.0.0', 'interaction listener binds all addresses');
    t.equal(mounts.find((m) => m.key === 'interaction.clientCAs[0]')?.source, `secret/${values.secrets.interactionClientCA.name}`, 'the login apps\' CA from its Secret');
  } else {
    t.equal(interactionServices.length, 0, 'no interaction Service');
    t.notOk(config.listeners.interaction ?? ports.interaction, 'no interaction listener');
  }
  const adminServices = objects.filter((o) => o.kind === 'Service' && o.metadata.name === `${deployment.metadata.name}-admin`);
  if (values.gateway.grantManagement.admin?.auth === 'mtls') {
    t.equal(adminServices[0]?.spec.type, 'ClusterIP', 'the admin API stays inside the cluster');
    t.equal(ports.admin, config.listeners.admin.port, 'admin container port is the listener\'s port');
    t.equal(config.listeners.admin.host, '0.0.0.0', 'admin listener binds all addresses');
    t.equal(mounts.find((m) => m.key === 'grantManagement.admin.clientCAs[0]')?.source, `secret/${values.secrets.adminClientCA.name}`, 'the back office\'s CA from its Secret');
  } else {
    t.equal(adminServices.length, 0, 'no admin Service');
    t.notOk(config.listeners.admin ?? ports.admin, 'no admin listener');
  }

  // Autoscaling and disruption budget where enabled.
  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
  if (values.autoscaling.enabled) {
    t.equal(hpas.length, 1, 'an HPA');
    t.same(hpas[0].spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name }, 'HPA scales the Deployment');
    t.equal(hpas[0].spec.minReplicas, values.autoscaling.minReplicas, 'HPA minimum');
    t.notOk('replicas' in deployment.spec, 'the HPA owns the replica count');
  } else {
    t.equal(hpas.length, 0, 'no HPA');
    t.equal(deployment.spec.replicas, values.replicaCount, 'replicas');
  }
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
  t.equal(pdbs.length, values.podDisruptionBudget.enabled ? 1 : 0, 'PDB where enabled');
  if (pdbs[0]) t.same(pdbs[0].spec.selector.matchLabels, deployment.spec.selector.matchLabels, 'the PDB selects the pods');
  t.ok(spec.topologySpreadConstraints?.length >= 1, 'topology spread');
  for (const c of spec.topologySpreadConstraints ?? []) {
    t.same(c.labelSelector.matchLabels, deployment.spec.selector.matchLabels, `spread over ${c.topologyKey} counts these pods`);
    t.equal(c.whenUnsatisfiable, values.topologySpread.whenUnsatisfiable, `spread over ${c.topologyKey}: ${values.topologySpread.whenUnsatisfiable}`);
  }
  const routes = objects.filter((o) => o.apiVersion.startsWith('gateway.networking.k8s.io/'));
  if (!values.gatewayApi.enabled) t.equal(routes.length, 0, 'no Gateway API objects');

  // Optional objects.
  const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
  t.equal(monitors.length, values.metrics.serviceMonitor.enabled ? 1 : 0, 'ServiceMonitor where enabled');
  if (monitors[0]) {
    t.match(monitors[0].spec.endpoints, [{ port: 'ops', path: '/metrics' }], 'scrapes /metrics on the ops port');
    t.same(monitors[0].spec.selector.matchLabels, { ...deployment.spec.selector.matchLabels, 'app.kubernetes.io/component': 'ops' }, 'selects the ops Service');
  }
  const dashboards = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
  t.equal(dashboards.length, values.dashboard.enabled ? 1 : 0, 'dashboard ConfigMap where enabled');
  if (dashboards[0]) {
    const json = Object.values(dashboards[0].data as Record<string, string>)[0];
    t.ok(JSON.parse(json).panels, 'the dashboard is JSON with panels');
  }
  t.equal(objects.filter((o) => o.kind === 'NetworkPolicy').length, values.networkPolicy.enabled ? 1 : 0, 'NetworkPolicy where enabled');

  // Ingress modes.
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  if (!values.ingress.enabled) {
    t.equal(ingresses.length, 0, 'no Ingress');
    t.notOk(config.tls.forwardedClientCertificate, 'certificates only from the TLS handshake');
  } else {
    t.equal(ingresses.length, 2, 'an Ingress per TLS listener');
    const mtls = ingresses.find((i) => i.metadata.name.endsWith('-mtls'))!;
    const a = mtls.metadata.annotations ?? {};
    t.equal(mtls.spec.rules[0].host, values.ingress.mtls.host, 'mtls host');
    t.equal(mtls.spec.rules[0].http.paths[0].backend.service.name, `${deployment.metadata.name}-mtls`, 'to the mtls Service');
    if (values.ingress.mode === 'passthrough') {
      for (const i of ingresses) t.equal(i.metadata.annotations?.['nginx.ingress.kubernetes.io/ssl-passthrough'], 'true', `${i.metadata.name}: TLS passthrough`);
      t.notOk(config.tls.forwardedClientCertificate, 'passthrough: certificates only from the TLS handshake');
    } else {
      t.equal(a['nginx.ingress.kubernetes.io/auth-tls-verify-client'], 'optional_no_ca', 'the ingress asks for a client certificate');
      t.equal(a['nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream'], 'true', 'and passes it on');
      t.equal(a['nginx.ingress.kubernetes.io/backend-protocol'], 'HTTPS', 'TLS to the gateway too');
      t.same(config.tls.forwardedClientCertificate, {
        header: values.gateway.forwardedClientCertificate.header,
        trustedProxies: values.gateway.forwardedClientCertificate.trustedProxies,
      }, 'the gateway reads the header from the trusted proxies only');
      const publicIngress = ingresses.find((i) => i.metadata.name.endsWith('-public'))!;
      t.notOk(publicIngress.metadata.annotations?.['nginx.ingress.kubernetes.io/auth-tls-verify-client'], 'no client certificate prompt on the public host');
      if (values.ingress.nginxAnnotations)
        for (const i of ingresses)
          t.equal(i.metadata.annotations?.['nginx.ingress.kubernetes.io/ssl-ciphers'], TLS12_SUITES.join(':'), `${i.metadata.name}: the gateway's own TLS 1.2 suites`);
    }
  }
}

interface MountedFile {
  /** The config key naming the file. */
  key: string;
  file: string;
  /** secret/<name> or configmap/<name>, undefined when no mount holds it. */
  source?: string;
  /** The key of the Secret or ConfigMap projected at that path. */
  sourceKey?: string;
}

/** Where each file the rendered config names comes from, by reading the pod's mounts and volumes. */
function resolveConfigFiles(objects: KubeObject[]): MountedFile[] {
  const config = renderedConfig(objects);
  const spec = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
  const [container] = spec.containers;
  const files: Array<[string, string]> = [
    ['tls.cert', config.tls.cert],
    ['tls.key', config.tls.key],
    ...config.tls.clientCAs.map((f: string, i: number) => [`tls.clientCAs[${i}]`, f] as [string, string]),
    ['keys.signing', config.keys.signing],
  ];
  if (config.store.tls?.ca) files.push(['store.tls.ca', config.store.tls.ca]);
  if (config.profile.startsWith('/')) files.push(['profile', config.profile]);
  for (const [key, file] of interactionFiles(config)) files.push([key, file]);
  (config.grantManagement?.admin?.clientCAs ?? []).forEach((f: string, n: number) => files.push([`grantManagement.admin.clientCAs[${n}]`, f]));
  return files.map(([key, file]) => {
    for (const m of container.volumeMounts) {
      const volume = spec.volumes.find((v: any) => v.name === m.name);
      const source = volume?.secret ? volume.secret : volume?.configMap;
      if (!source) continue;
      const kind = volume.secret ? `secret/${source.secretName}` : `configmap/${source.name}`;
      let projectedPath: string | undefined;
      if (m.subPath) {
        if (m.mountPath === file) projectedPath = m.subPath;
      } else if (path.posix.dirname(file) === m.mountPath) {
        projectedPath = path.posix.basename(file);
      }
      if (projectedPath === undefined) continue;
      const items: Array<{ key: string; path: string }> | undefined = source.items;
      const item = items ? items.find((i) => i.path === projectedPath) : { key: projectedPath, path: projectedPath };
      if (item) return { key, file, source: kind, sourceKey: item.key };
    }
    return { key, file };
  });
}

/** The files of the config's `interaction:` section, by config key. */
function interactionFiles(config: Record<string, any>): Array<[string, string]> {
  const i = config.interaction ?? {};
  const files: Array<[string, string]> = (i.clientCAs ?? []).map((f: string, n: number) => [`interaction.clientCAs[${n}]`, f]);
  if (i.clientKey) files.push(['interaction.clientKey', i.clientKey]);
  if (i.clientCertificate) files.push(['interaction.clientCertificate.cert', i.clientCertificate.cert], ['interaction.clientCertificate.key', i.clientCertificate.key]);
  if (i.ca) files.push(['interaction.ca', i.ca]);
  return files;
}

/**
 * Lays out the files the rendered config names under `dir` (throw-away dev PKI material for the
 * Secrets, the ConfigMap's own data for the profile), rewrites the paths into `dir`, and runs
 * `fapi-gateway check` on it with the environment the Deployment gives the container.
 */
async function checkRenderedConfig(objects: KubeObject[], dir: string, pki: DevPki): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const config = renderedConfig(objects);
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])!;
  const relocate = (file: string) => path.join(dir, file);
  // Signing keys: PS256 only, which every profile and policy of the examples allows.
  const signing = JSON.parse(await readFile(pki.signingKeys, 'utf8'));
  const signingFile = path.join(dir, 'signing.jwks.json');
  await mkdir(dir, { recursive: true });
  await writeFile(signingFile, JSON.stringify({ keys: signing.keys.filter((k: any) => k.alg === 'PS256') }));
  const material: Record<string, string> = {
    'tls.cert': pki.serverCert,
    'tls.key': pki.serverKey,
    'keys.signing': signingFile,
    'store.tls.ca': pki.ca,
  };
  for (const m of resolveConfigFiles(objects)) {
    if (!m.source) throw new Error(`${m.key} (${m.file}) is in no mount`);
    await mkdir(path.dirname(relocate(m.file)), { recursive: true });
    if (m.source.startsWith('configmap/')) await writeFile(relocate(m.file), configMap.data[m.sourceKey!]);
    else await copyFile(material[m.key] ?? pki.ca, relocate(m.file));
  }
  config.tls.cert = relocate(config.tls.cert);
  config.tls.key = relocate(config.tls.key);
  config.tls.clientCAs = config.tls.clientCAs.map(relocate);
  config.keys.signing = relocate(config.keys.signing);
  if (config.store.tls?.ca) config.store.tls.ca = relocate(config.store.tls.ca);
  if (config.profile.startsWith('/')) config.profile = relocate(config.profile);
  // The login apps' and the back office's CAs (and an OpenID provider's CA) stand in as the dev CA.
  if (config.grantManagement?.admin?.clientCAs) config.grantManagement.admin.clientCAs = config.grantManagement.admin.clientCAs.map(relocate);
  if (config.interaction?.clientCAs) config.interaction.clientCAs = config.interaction.clientCAs.map(relocate);
  for (const key of ['clientKey', 'ca'] as const) if (config.interaction?.[key]) config.interaction[key] = relocate(config.interaction[key]);
  if (config.interaction?.clientCertificate)
    config.interaction.clientCertificate = { cert: relocate(config.interaction.clientCertificate.cert), key: relocate(config.interaction.clientCertificate.key) };
  const file = relocate(CONFIG_PATH);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, stringify(config));

  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FAPI_GATEWAY_REDIS_URL;
  delete env.FAPI_GATEWAY_LOG_LEVEL;
  const [container] = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers;
  for (const e of container.env ?? []) {
    // The Secret's value is the deployment's; any URL of the right shape stands in for it.
    // (rediss:// when the config names a Redis CA, as the gateway requires.)
    const redisUrl = `${config.store.tls ? 'rediss' : 'redis'}://:password@127.0.0.1:1/0`;
    const stand =
      e.name === 'FAPI_GATEWAY_REDIS_URL' ? redisUrl
      : e.name === 'FAPI_GATEWAY_PAIRWISE_SECRET' || e.name === 'FAPI_GATEWAY_DPOP_NONCE_KEY' ? 'a-stand-in-secret-of-at-least-32-characters'
      : 'secret';
    if (e.valueFrom?.secretKeyRef) env[e.name] = stand;
    else env[e.name] = e.value;
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts'), 'check', '--config', file],
      { cwd: ROOT, env, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
