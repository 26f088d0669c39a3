/**
 * Runs the OpenID Foundation conformance suite's plans against the gateway of this checkout, all on
 * loopback: builds what is missing into a cache folder (suite jar, MongoDB stand-in, the runner's
 * Python venv, PKI), writes the configs from conformance/description.ts, starts the stand-in, the
 * suite, its TLS front, the sample bank and the gateway, runs each plan with the suite's own runner
 * (scripts/run-test-plan.py), prints and saves a per-module table, and stops everything it started.
 *
 *   npm run conformance -- --suite DIR [--work DIR] [--plan fapi2-security-profile]
 *                          (--variant NAME ... | --all) [--module NAME ...] [--list]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, writeFileSync, cpSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeConfigs } from './configs.js';
import { useSoftHsmSigner } from './softhsm-signer.js';
import { bankLoginAppCommand, ensureBankAppPki, suiteSignsInAtApp, useExternalLogin } from './external-login.js';
import { DEFAULT_PASSWORD, DEFAULT_PORTS, PLANS, USER, profileOf, suitePlanSpec, VARIANTS, type ConformanceVariant, type PlanName } from './description.js';
import { ensurePki, readPki } from './pki.js';
import { BRAZIL_DCR_VARIANTS, brazilDcrGatewayConfig, brazilDcrRedirectUris, brazilDcrSuiteConfig } from './brazil-dcr.js';
import { ensureBrazilDcrPki, expectedFailures, startStandInDirectory, type StandInDirectory } from './brazil-directory.js';
import { localEndpoints } from './description.js';
import { outcomeTable, planIsGreen, SuiteApi } from './suite-api.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
const ports = DEFAULT_PORTS;
const SUITE_BASE = `https://localhost:${ports.suiteHttps}/`;

const { values: args } = parseArgs({
  options: {
    suite: { type: 'string' },
    work: { type: 'string' },
    plan: { type: 'string', default: 'fapi2-security-profile' },
    variant: { type: 'string', multiple: true, default: [] },
    all: { type: 'boolean', default: false },
    module: { type: 'string', multiple: true, default: [] },
    list: { type: 'boolean', default: false },
    /** builtin (the gateway's pages) or external (examples/bank-login-app.ts over the interaction API). */
    login: { type: 'string', default: 'builtin' },
    /** file (the gateway's keys file) or softhsm (keys generated in a SoftHSM token for the run). */
    signer: { type: 'string', default: 'file' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usage(message?: string): never {
  if (message) console.error(message);
  console.error(`usage: npm run conformance -- --suite DIR [--work DIR] [--plan NAME] (--variant NAME ... | --all) [--module NAME ...] [--list]
  --suite    a clone of openid-certification/conformance-suite (target/fapi-test-suite.jar is built when missing)
  --work     cache folder for builds, PKI, configs, logs and results
             (default \$XDG_CACHE_HOME/fapi-gateway-conformance, or ~/.cache/...)
  --plan     ${Object.keys(PLANS).join(', ')} (or the suite's plan name, e.g. ${PLANS['fapi1-advanced']})
  --variant  ${VARIANTS.map((v) => v.name).join(', ')}
  --all      every variant of the plan
  --module   run only these modules (suite names)
  --list     print the modules the suite selects for each variant (or why it refuses), run nothing
  --login    builtin (default) or external: the example bank login app signs in over the interaction API
  --signer   file (default) or softhsm: the gateway signs with keys generated in a SoftHSM token (needs softhsm2, pkcs11js)`);
  process.exit(64);
}
if (args.help) usage();
// The suite's own plan names are accepted too (fapi1-advanced-final-test-plan for fapi1-advanced).
const plan = (Object.keys(PLANS) as PlanName[]).find((name) => name === args.plan || PLANS[name] === args.plan) ?? usage(`unknown plan ${args.plan}`);
const planVariants = [...VARIANTS, ...BRAZIL_DCR_VARIANTS].filter((v) => v.plan === plan);
const chosen: ConformanceVariant[] = args.all ? planVariants : args.variant!.map((name) => planVariants.find((v) => v.name === name) ?? usage(`unknown variant ${name}`));
if (!chosen.length) usage('give --variant NAME or --all');
// One gateway serves the run: its variants must share a gateway profile.
const profiles = [...new Set(chosen.map(profileOf))];
if (profiles.length > 1) usage(`these variants need different gateway profiles (${profiles.join(', ')}): run them separately`);

const work = path.resolve(args.work ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'fapi-gateway-conformance'));
const suiteDir = path.resolve(args.suite ?? path.join(work, 'suite'));
const runDir = path.join(work, 'run');
mkdirSync(runDir, { recursive: true });

// ---- processes we start, stopped on every way out --------------------------------------------------
const children: { name: string; child: ChildProcess }[] = [];
let tlsFront: Server | undefined;
let directory: StandInDirectory | undefined;
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    tlsFront?.close();
    tlsFront?.closeAllConnections();
    await directory?.close();
    for (const { name, child } of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!killed) { child.kill('SIGKILL'); await exited; }
      console.log(`stopped ${name} (pid ${child.pid})`);
    }
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => { console.error(`\n${signal}: stopping`); void stopAll().finally(() => process.exit(130)); });
}

function start(name: string, command: string, argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const log = createWriteStream(path.join(runDir, `${name}.log`));
  const child = spawn(command, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  children.push({ name, child });
  child.once('exit', (code, signal) => { if (!stopping) console.error(`${name} exited (${signal ?? code}); log ${path.join(runDir, `${name}.log`)}`); });
  console.log(`started ${name} (pid ${child.pid})`);
  return child;
}

/** Runs a build step in the foreground; its output goes to a log that is shown when it fails. */
function step(name: string, command: string, argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  console.log(`== ${name}`);
  const r = spawnSync(command, argv, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  writeFileSync(path.join(runDir, `${name.replace(/\W+/g, '-')}.log`), `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) throw new Error(`${name} failed (${r.error?.message ?? `exit ${r.status}`}):\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-30).join('\n')}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, ready: () => Promise<boolean>, seconds: number, child?: ChildProcess): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    if (await ready().catch(() => false)) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited before it was ready`);
    await sleep(1000);
  }
  throw new Error(`timeout waiting for ${what}`);
}

// ---- one-time builds into the cache ---------------------------------------------------------------
function javaHome(): string {
  if (process.env.SUITE_JAVA_HOME) return process.env.SUITE_JAVA_HOME;
  const jvm = '/usr/lib/jvm';
  const found = existsSync(jvm) ? readdirSync(jvm).filter((d) => /-(2[1-9])-/.test(d) && existsSync(path.join(jvm, d, 'bin', 'javac'))).sort().reverse() : [];
  if (!found.length) throw new Error('need a JDK 21 or newer for the suite: set SUITE_JAVA_HOME');
  return path.join(jvm, found[0]);
}

function ensureSuiteJar(java: string): string {
  const jar = path.join(suiteDir, 'target', 'fapi-test-suite.jar');
  if (!existsSync(path.join(suiteDir, 'pom.xml'))) throw new Error(`${suiteDir} is not a conformance-suite clone (give --suite DIR)`);
  if (existsSync(jar)) return jar;
  // Maven Central serves org.multipaz 0.90/0.101.0/0.102.0 but not the 0.99.0 some suite commits pin;
  // multipaz is used only by the VCI/mdoc modules, so build against 0.101.0.
  const pom = path.join(suiteDir, 'pom.xml');
  const text = readFileSync(pom, 'utf8');
  const fixed = text.replace(/(<artifactId>multipaz-(?:jvm|doctypes-jvm|utopia-jvm)<\/artifactId>\s*<version>)0\.99\.0(<\/version>)/g, '$10.101.0$2');
  if (fixed !== text) { writeFileSync(pom, fixed); console.log('pom.xml: multipaz 0.99.0 -> 0.101.0'); }
  step('build the suite (several minutes)', 'mvn', ['-B', '-q', '-Dmaven.test.skip=true', '-Dpmd.skip=true', '-Dcheckstyle.skip=true',
    '-Djacoco.skip=true', '-Dkotlin.compiler.daemon=false', 'package'], { cwd: suiteDir, env: { ...process.env, JAVA_HOME: java } });
  return jar;
}

function ensureMongoShim(): string {
  const dir = path.join(work, 'mongo-shim');
  const classpath = `${path.join(dir, 'target', 'mongo-shim-1.jar')}${path.delimiter}${path.join(dir, 'target', 'lib', '*')}`;
  if (existsSync(path.join(dir, 'target', 'mongo-shim-1.jar'))) return classpath;
  cpSync(path.join(HERE, 'mongo-shim'), dir, { recursive: true });
  step('build the MongoDB stand-in', 'mvn', ['-B', '-q', 'package', 'dependency:copy-dependencies', '-DoutputDirectory=target/lib'], { cwd: dir });
  return classpath;
}

function ensureVenv(): string {
  const python = path.join(work, 'venv', 'bin', 'python');
  if (existsSync(python)) return python;
  step('python venv for the suite runner', 'python3', ['-m', 'venv', path.join(work, 'venv')]);
  step('runner requirements', python, ['-m', 'pip', 'install', '-q', '-r', path.join(suiteDir, 'scripts', 'requirements.txt')]);
  return python;
}

// ---- the suite's TLS front (stands in for its nginx) ------------------------------------------------
function startTlsFront(cert: string, key: string): Promise<void> {
  tlsFront = createServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, (req, res) => {
    const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1', 'x-forwarded-proto': 'https',
      'x-forwarded-host': req.headers.host ?? `localhost:${ports.suiteHttps}`, 'x-forwarded-port': String(ports.suiteHttps), 'x-forwarded-uri': req.url };
    const up = httpRequest({ host: '127.0.0.1', port: ports.suiteHttp, method: req.method, path: req.url, headers, timeout: 130_000 }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.rawHeaders);
      ur.pipe(res);
    });
    up.on('timeout', () => up.destroy(new Error('upstream timeout')));
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`tls-front: ${e.message}\n`);
    });
    req.pipe(up);
  });
  tlsFront.requestTimeout = 0;
  tlsFront.headersTimeout = 60_000;
  return new Promise((resolve, reject) => { tlsFront!.once('error', reject); tlsFront!.listen(ports.suiteHttps, '127.0.0.1', () => resolve()); });
}

/** Fails fast when a fixed port is taken: a leftover gateway or suite would answer in place of ours. */
async function checkPortsFree(): Promise<void> {
  for (const [name, port] of Object.entries(ports)) {
    await new Promise<void>((resolve, reject) => {
      const probe = createTcpServer();
      probe.once('error', () => reject(new Error(`port ${port} (${name}) on 127.0.0.1 is in use: stop what holds it`)));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  }
}

// ---- main ------------------------------------------------------------------------------------------
async function main(): Promise<number> {
  await checkPortsFree();
  const java = javaHome();
  const jar = ensureSuiteJar(java);
  const python = ensureVenv();
  const mongoClasspath = ensureMongoShim();
  const pki = await ensurePki(path.join(work, 'pki'));
  const configs = await writeConfigs(path.join(work, 'cfg'), pki);
  const ca = readFileSync(pki.clientCa, 'utf8');
  const suiteCommit = spawnSync('git', ['-C', suiteDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  console.log(`suite ${suiteDir} at ${suiteCommit}; work ${work}`);

  // The Brazil DCR plan: the gateway trusts a stand-in Directory, the suite registers its own client.
  const dcr = chosen.filter((v) => v.dcr);
  let expectedFailuresFile: string | undefined;
  if (dcr.length) {
    const brazil = await ensureBrazilDcrPki(pki.dir);
    const endpoints = localEndpoints(ports);
    const cfg = path.join(work, 'cfg');
    configs.gateways[profiles[0]] = path.join(cfg, 'gateway-brazil-dcr.yaml');
    writeFileSync(configs.gateways[profiles[0]]!, `# generated by conformance/run.ts\n${JSON.stringify(brazilDcrGatewayConfig({ pki: await readPki(pki), files: pki, ports }), null, 2)}\n`, { mode: 0o600 });
    for (const variant of dcr) {
      configs.suite[variant.name] = path.join(cfg, `suite-${variant.name}.json`);
      writeFileSync(configs.suite[variant.name]!, JSON.stringify(await brazilDcrSuiteConfig(variant, await readPki(pki), brazil, { endpoints, ports }), null, 2), { mode: 0o600 });
    }
    expectedFailuresFile = path.join(cfg, 'expected-failures-brazil-dcr.json');
    writeFileSync(expectedFailuresFile, JSON.stringify(expectedFailures(), null, 2));
    directory = await startStandInDirectory({
      port: ports.directory, serverCert: pki.serverChain, serverKey: pki.serverKey, caPem: ca, files: brazil,
      redirectUris: dcr.flatMap((v) => brazilDcrRedirectUris(endpoints, v)),
    });
    console.log(`stand-in Directory ${directory.base}`);
  }

  step('build the gateway (npm run build)', 'npm', ['run', '-s', 'build'], { cwd: ROOT });
  const gatewayFile = configs.gateways[profiles[0]]!;
  const external = args.login === 'external' ? await ensureBankAppPki(path.join(work, 'pki-bank')) : undefined;
  if (args.login !== 'builtin' && !external) usage(`unknown --login ${args.login}`);
  if (external) {
    await useExternalLogin(gatewayFile, external);
    for (const variant of chosen) await suiteSignsInAtApp(configs.suite[variant.name]!);
  }
  if (args.signer === 'softhsm') await useSoftHsmSigner(gatewayFile, path.join(work, 'softhsm'));
  else if (args.signer !== 'file') usage(`unknown --signer ${args.signer}`);
  step('check the gateway config', process.execPath, [path.join(ROOT, 'dist', 'main.js'), 'check', '--config', gatewayFile]);

  start('mongo', path.join(java, 'bin', 'java'), ['-cp', mongoClasspath, 'MongoShim', '127.0.0.1', String(ports.mongo)]);
  await sleep(2000);
  start('suite', path.join(java, 'bin', 'java'), ['-Xmx3g', '-Djdk.tls.maxHandshakeMessageSize=65536', '-jar', jar,
    '--server.address=127.0.0.1', `--server.port=${ports.suiteHttp}`, `--fintechlabs.base_url=${SUITE_BASE.replace(/\/$/, '')}`,
    `--fintechlabs.base_mtls_url=https://localhost:${ports.suiteHttps + 1}`, '--fintechlabs.devmode=true',
    `--spring.mongodb.uri=mongodb://127.0.0.1:${ports.mongo}/test_suite`, '--openid.mongodb.targetFeatureCompatibilityVersion=']);
  await startTlsFront(pki.serverChain, pki.serverKey);
  const bankScript = `const { sampleBank } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'sample-bank', 'server.js'))}); await sampleBank().listen({ host: '127.0.0.1', port: ${ports.bank} });`;
  start('bank', process.execPath, ['--input-type=module', '-e', bankScript]);
  // The gateway fetches the stand-in Directory's keys over TLS with the run's CA.
  const gateway = start('gateway', process.execPath, [path.join(ROOT, 'dist', 'main.js'), '--config', gatewayFile], { env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.clientCa } });
  if (external)
    start('bank login app', process.execPath, bankLoginAppCommand(ROOT, external, { ca: pki.clientCa, serverCert: pki.serverChain, serverKey: pki.serverKey }, { ...USER, password: DEFAULT_PASSWORD }), { cwd: ROOT });

  const api = new SuiteApi(SUITE_BASE, ca);
  try {
    const discovery = new SuiteApi(`https://localhost:${ports.gatewayPublic}/`, ca);
    await waitFor('the gateway', async () => (await discovery.call('GET', '.well-known/openid-configuration')).status === 200, 60, gateway);
    await discovery.close();
    await waitFor('the suite', () => api.available(), 240, children.find((c) => c.name === 'suite')!.child);
    console.log(`all up: suite ${SUITE_BASE}, gateway https://localhost:${ports.gatewayPublic}`);

    let failed = 0;
    const tables: string[] = [];
    for (const variant of chosen) {
      const config = JSON.parse(readFileSync(configs.suite[variant.name]!, 'utf8'));
      const selection = await api.listModules(PLANS[variant.plan], variant.suiteVariant, config);
      console.log(`\n${suitePlanSpec(variant)}`);
      if ('refused' in selection) { console.log(`REFUSED by the suite: ${selection.refused}`); failed++; continue; }
      if (args.list) { selection.modules.forEach((m, i) => console.log(`${String(i + 1).padStart(3)} ${m}`)); console.log(`${selection.modules.length} modules`); continue; }
      const missing = args.module!.filter((m) => !selection.modules.includes(m));
      if (missing.length) { console.log(`not in this plan/variant: ${missing.join(', ')} (see --list)`); failed++; continue; }

      const out = path.join(work, 'results', `${variant.plan}-${variant.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(out, { recursive: true });
      console.log(`running ${selection.modules.length} modules; log ${path.join(out, 'run.log')}`);
      const started = Date.now();
      const rc = await runRunner(python, out, suitePlanSpec(variant, args.module!), configs.suite[variant.name]!, variant.dcr ? expectedFailuresFile : undefined);
      const planId = /Created test plan, new id: ([A-Za-z0-9]+)/.exec(readFileSync(path.join(out, 'run.log'), 'utf8'))?.[1];
      if (!planId) { console.log(`the runner created no plan (exit ${rc}); see ${path.join(out, 'run.log')}`); failed++; continue; }
      const outcome = await api.outcomes(planId);
      // With --module the plan still lists every module: the table holds the ones asked for.
      if (args.module!.length) outcome.modules = outcome.modules.filter((m) => args.module!.includes(m.module));
      const title = `${variant.plan} ${variant.name}: \`${suitePlanSpec(variant)}\``;
      const table = `${outcomeTable(title, outcome.modules)}\n\nSuite ${suiteCommit}, ${new Date().toISOString().slice(0, 10)}, ${Math.round((Date.now() - started) / 1000)} s, runner exit ${rc}, plan ${planId}.\n`;
      writeFileSync(path.join(out, 'summary.md'), table);
      for (const m of outcome.modules) m.pages.forEach((p, i) => writeFileSync(path.join(out, `review-${m.module}-${i + 1}.html`), p.html));
      console.log(`\n${table}\nsaved ${path.join(out, 'summary.md')}`);
      tables.push(table);
      if (!planIsGreen(outcome.modules) || rc !== 0) failed++;
    }
    if (tables.length) writeFileSync(path.join(work, 'results', 'latest.md'), tables.join('\n'));
    return failed ? 1 : 0;
  } finally {
    await api.close();
  }
}

function runRunner(python: string, out: string, spec: string, config: string, expectedFailuresFile?: string): Promise<number> {
  return new Promise((resolve) => {
    const log = createWriteStream(path.join(out, 'run.log'));
    const expected = expectedFailuresFile ? ['--expected-failures-file', expectedFailuresFile] : [];
    const child = spawn(python, [path.join('scripts', 'run-test-plan.py'), '--export-dir', out, '--no-parallel', '--verbose', ...expected, spec, config], {
      cwd: suiteDir, env: { ...process.env, CONFORMANCE_SERVER: SUITE_BASE, CONFORMANCE_DEV_MODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push({ name: 'suite runner', child });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    child.once('exit', (code) => { log.end(); resolve(code ?? 1); });
  });
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`conformance: ${(err as Error).message}`);
} finally {
  await stopAll();
}
process.exit(code);
