// The container image (issue 7), really built from the Dockerfile and run. There is no Docker engine
// here: Debian's buildah builds with chroot isolation on vfs storage, in a storage folder of this
// test only. The base is the machine's own Node 20 on a debootstrapped Debian bookworm (minbase),
// cached under /var/tmp for the day; npm registry settings reach the build only as a build secret.
// The built image must hold no dev dependencies, tests or keys, run as uid 10001, write nothing to
// its root filesystem, and answer discovery over TLS with a config and dev PKI mounted from outside.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { access, chmod, chown, copyFile, cp, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { stringify } from 'yaml';
import { ensureDevPki } from '../src/devpki/dev-pki.js';
import { IMAGE_ALLOCATOR_ENV, IMAGE_NODE_FLAGS } from './helpers/image-env.js';
import { ROOT } from './helpers/kube.js';
import { requireProgram } from './helpers/programs.js';

const run = promisify(execFile);
const CACHE_DIR = process.env.FAPI_GATEWAY_IMAGE_CACHE ?? '/var/tmp/fapi-gateway-image-cache';
const DEBIAN_MIRROR = process.env.FAPI_GATEWAY_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const IMAGE_USER = 10001;
const CONFIG_DIR = '/etc/fapi-gateway';
const BUILD_TIMEOUT_MS = 15 * 60_000;

const install = 'apt-get install -y buildah podman debootstrap (.ci/run does)';
const ready =
  requireProgram(t, 'buildah', install) && requireProgram(t, 'podman', install) && requireProgram(t, 'debootstrap', install) && isRoot();

function isRoot(): boolean {
  if (process.getuid?.() === 0) return true;
  const reason = 'building the image with buildah --isolation chroot needs root';
  if (process.env.CI === 'true') t.fail(reason);
  else t.pass('needs root', { skip: reason });
  return false;
}

if (ready) {
  // Debootstrap, npm ci twice and tsc on two cores: minutes, not the suite's two.
  t.setTimeout(25 * 60_000);
  const timings: string[] = [];
  const timed = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await work();
    } finally {
      timings.push(`${label}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  };

  let work: string;
  let storageFlags: string[];
  const containers: string[] = [];
  let gateway: ChildProcess | undefined;
  const tag = `localhost/fapi-gateway:test-${process.pid}`;
  const baseTag = `localhost/fapi-gateway-test-base:${process.pid}`;
  const buildah = (args: string[], timeout = 120_000) => run('buildah', [...storageFlags, ...args], { cwd: ROOT, timeout, maxBuffer: 64 * 1024 * 1024 });

  t.before(async () => {
    await mkdir('/var/tmp', { recursive: true });
    // A run killed before its teardown leaves gigabytes of vfs layers behind: clear those of earlier
    // runs (older than six hours, so a run going on beside this one keeps its own).
    for (const entry of await readdir('/var/tmp')) {
      const dir = path.join('/var/tmp', entry);
      if (entry.startsWith('fapi-gateway-image-test-') && Date.now() - (await stat(dir)).mtimeMs > 6 * 3600_000)
        await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
    work = await mkdtemp('/var/tmp/fapi-gateway-image-test-');
    storageFlags = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  });
  t.teardown(async () => {
    if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
    for (const c of containers) await buildah(['rm', c]).catch(() => {});
    if (work) await rm(work, { recursive: true, force: true });
    t.comment(`image test timings: ${timings.join(', ')}`);
  });

  let rootfs: string;
  let imageConfig: { User?: string; Cmd?: string[]; Entrypoint?: string[] | null; WorkingDir?: string; ExposedPorts?: Record<string, unknown>; Labels?: Record<string, string> };

  t.test('the image builds from the Dockerfile', async (t) => {
    const base = await timed('base (debootstrap + node, or the cached tarball)', () => baseTarball());
    await timed('import base', () =>
      run('podman', [...storageFlags, 'import', base, baseTag], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }),
    );
    const npmrc = path.join(work, 'npmrc');
    await writeFile(npmrc, await npmRegistrySettings(), { mode: 0o600 });
    const log = path.join(work, 'build.log');
    const build = await timed('buildah build', () =>
      runLogged(
        'buildah',
        [...storageFlags, 'build', '--isolation', 'chroot', '--secret', `id=npmrc,src=${npmrc}`, '--build-arg', `BASE=${baseTag}`, '-t', tag, '-f', 'Dockerfile', '.'],
        log,
        BUILD_TIMEOUT_MS,
      ),
    );
    if (build !== 0) t.fail(`buildah build exited ${build}:\n${(await readFile(log, 'utf8')).slice(-4000)}`);
    t.equal(build, 0, 'buildah build succeeds');
    await rm(npmrc);

    const inspect = JSON.parse((await buildah(['inspect', '--type', 'image', tag])).stdout);
    imageConfig = inspect.OCIv1.config;
    for (const [name, value] of Object.entries(IMAGE_ALLOCATOR_ENV))
      t.ok(inspect.OCIv1.config.Env?.includes(`${name}=${value}`), `${name}=${value}: RSS stays down after logins`);
    const labels = imageConfig.Labels ?? {};
    for (const name of ['title', 'description', 'licenses', 'version', 'revision', 'created', 'source'])
      t.ok(labels[`org.opencontainers.image.${name}`], `OCI label org.opencontainers.image.${name}`);
    t.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    const history: Array<{ created_by?: string }> = inspect.OCIv1.history ?? [];
    t.notMatch(JSON.stringify(history), /_authToken|BEGIN CERTIFICATE/, 'no registry settings in the image history');
  });

  t.test('the image holds the runtime only: no dev dependencies, tests or keys', async (t) => {
    if (!imageConfig) return t.fail('no image');
    t.equal(imageConfig.User, `${IMAGE_USER}:${IMAGE_USER}`, 'runs as uid/gid 10001');
    t.notOk(imageConfig.Entrypoint?.length, 'no entrypoint wrapper');
    t.same(imageConfig.Cmd, ['node', ...IMAGE_NODE_FLAGS, 'dist/main.js', '--config', `${CONFIG_DIR}/config.yaml`], 'node is the command (PID 1), with a mounted config');
    t.equal(imageConfig.WorkingDir, '/app', 'working directory');
    t.same(Object.keys(imageConfig.ExposedPorts ?? {}).sort(), ['8443/tcp', '8444/tcp', '9090/tcp'], 'the three listener ports');

    const container = `fgw-inspect-${process.pid}`;
    await buildah(['from', '--name', container, tag]);
    containers.push(container);
    rootfs = (await buildah(['mount', container])).stdout.trim();

    for (const f of ['app/dist/main.js', 'app/dist/config/profile.js', 'app/profiles/fapi2.yaml', 'app/package.json', 'app/node_modules/fastify/package.json'])
      t.ok(await exists(path.join(rootfs, f)), `/${f} is there`);
    // profiles/ resolves from the compiled module the way src/config/profile.ts computes it.
    t.ok(await exists(path.join(rootfs, 'app/dist/config', '../../profiles/fapi2.yaml')), 'dist/config/../../profiles resolves to /app/profiles');
    for (const f of ['app/test', 'app/src', 'app/bench', 'app/certs', 'app/helm', 'app/.git', 'app/.tap', 'app/tsconfig.json', 'app/Dockerfile', 'root/.npmrc', 'root/.npm', 'etc/fapi-gateway'])
      t.notOk(await exists(path.join(rootfs, f)), `no /${f}`);

    // Every package the lockfile marks dev-only is absent; the production ones are present.
    const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const packages = Object.entries(lock.packages as Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>).filter(([p]) => p.startsWith('node_modules/'));
    const devOnly = packages.filter(([, p]) => p.dev).map(([p]) => p);
    const prod = packages.filter(([, p]) => !p.dev && !p.optional && !p.devOptional).map(([p]) => p);
    const presentDev = [];
    for (const p of devOnly) if (await exists(path.join(rootfs, 'app', p))) presentDev.push(p);
    t.same(presentDev, [], `none of the ${devOnly.length} dev-only packages`);
    // (@types/node is a production package too now: protobufjs, under the OpenTelemetry exporters, depends on it.)
    for (const p of ['node_modules/tap', 'node_modules/typescript', 'node_modules/tsx', 'node_modules/kubernetes-models'])
      t.notOk(await exists(path.join(rootfs, 'app', p)), `no ${p}`);
    const missingProd = [];
    for (const p of prod) if (!(await exists(path.join(rootfs, 'app', p)))) missingProd.push(p);
    t.same(missingProd, [], `all ${prod.length} production packages`);

    // No key material anywhere the image keeps application or user files.
    const keyFiles: string[] = [];
    for (const dir of ['app', 'etc', 'root', 'home', 'tmp', 'var', 'srv', 'opt'])
      await walk(path.join(rootfs, dir), async (file, size) => {
        const rel = '/' + path.relative(rootfs, file);
        if (/\.(pem|key|p12|pfx|jwk|jwks)(\.json)?$|jwks.*\.json$|\.npmrc$/i.test(rel)) keyFiles.push(rel);
        else if (size < 65_536 && !rel.startsWith('/etc/ssl/certs/')) {
          const head = (await readFile(file)).subarray(0, 64).toString('latin1');
          if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(head)) keyFiles.push(rel);
        }
      });
    t.same(keyFiles, [], 'no key, certificate or npmrc files');

    // A root filesystem of node and its libraries: nothing to run but node.
    for (const f of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'bin/dash', 'usr/bin/apt-get', 'usr/bin/dpkg', 'usr/local/bin/npm', 'usr/local/bin/npx', 'usr/local/lib/node_modules', 'usr/bin/perl'])
      t.notOk(await exists(path.join(rootfs, f)), `no /${f}`);
    t.ok(await exists(path.join(rootfs, 'usr/local/bin/node')), '/usr/local/bin/node');

    // The SBOM of what the image runs: CycloneDX, production packages only.
    const sbom = JSON.parse(await readFile(path.join(rootfs, 'app/sbom.cdx.json'), 'utf8'));
    t.equal(sbom.bomFormat, 'CycloneDX', 'a CycloneDX SBOM at /app/sbom.cdx.json');
    t.equal(sbom.metadata?.component?.name, 'fapi-gateway', 'of fapi-gateway');
    const components = new Set((sbom.components as { name: string }[]).map((c) => c.name));
    t.ok(components.has('fastify') && components.has('jose') && components.has('@opentelemetry/sdk-node'), 'naming the production packages');
    t.notOk(components.has('tap') || components.has('typescript'), 'and no development package');
    const missing = prod.map((p) => p.replace(/.*node_modules\//, '')).filter((name) => !components.has(name));
    t.same([...new Set(missing)], [], 'every production package of the lockfile is in it');
  });

  t.test('the gateway answers from inside the image as uid 10001 and writes nothing', async (t) => {
    if (!rootfs || !imageConfig?.Cmd) return t.fail('no image');
    // The Secrets and ConfigMap of a pod, laid out the way the chart mounts them: root-owned, group
    // 10001 (the pod's fsGroup), mode 0440.
    const mounted = path.join(work, 'etc-fapi-gateway');
    const pki = await ensureDevPki(path.join(work, 'pki'));
    const [publicPort, mtlsPort, opsPort] = await freePorts(3);
    const files: Record<string, string> = {
      'tls/tls.crt': pki.serverCert,
      'tls/tls.key': pki.serverKey,
      'client-ca/ca.crt': pki.ca,
      'keys/signing-keys.jwks.json': pki.signingKeys,
    };
    for (const [rel, source] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(mounted, rel)), { recursive: true });
      await copyFile(source, path.join(mounted, rel));
    }
    const issuer = `https://localhost:${publicPort}`;
    await writeFile(
      path.join(mounted, 'config.yaml'),
      stringify({
        issuer,
        profile: 'fapi2',
        // Loopback only: buildah run shares the host's network.
        listeners: {
          public: { host: '127.0.0.1', port: publicPort },
          mtls: { host: '127.0.0.1', port: mtlsPort, url: `https://localhost:${mtlsPort}` },
          ops: { host: '127.0.0.1', port: opsPort },
        },
        tls: { cert: `${CONFIG_DIR}/tls/tls.crt`, key: `${CONFIG_DIR}/tls/tls.key`, clientCAs: [`${CONFIG_DIR}/client-ca/ca.crt`] },
        keys: { signing: `${CONFIG_DIR}/keys/signing-keys.jwks.json` },
        store: { type: 'memory' },
        shutdown: { graceSeconds: 2 },
      }),
    );
    await ownForPod(mounted);

    const container = `fgw-run-${process.pid}`;
    await buildah(['from', '--name', container, tag]);
    containers.push(container);
    const runRoot = (await buildah(['mount', container])).stdout.trim();
    const before = await snapshot(runRoot);

    const output: string[] = [];
    gateway = spawn(
      'buildah',
      [...storageFlags, 'run', '--isolation', 'chroot', '-v', `${mounted}:${CONFIG_DIR}:ro`, container, '--', ...imageConfig.Cmd],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    gateway.stdout!.on('data', (d) => output.push(String(d)));
    gateway.stderr!.on('data', (d) => output.push(String(d)));
    const exited = new Promise<number | null>((resolve) => gateway!.once('exit', (code) => resolve(code)));

    const started = await timed('gateway start in the image', () => waitFor(() => get(`http://127.0.0.1:${opsPort}/readyz`), 60_000, () => gateway!.exitCode !== null));
    if (!started) {
      t.fail(`the gateway did not become ready:\n${output.join('').slice(-4000)}`);
      return;
    }
    t.pass('/readyz answers on the ops port');

    const discovery = await get(`https://127.0.0.1:${publicPort}/.well-known/openid-configuration`, await readFile(pki.ca));
    t.equal(discovery.status, 200, 'discovery over TLS');
    const metadata = JSON.parse(discovery.body);
    t.equal(metadata.issuer, issuer, 'the discovery document names the issuer');
    t.equal(metadata.mtls_endpoint_aliases?.token_endpoint, `https://localhost:${mtlsPort}/token`, 'and the mTLS token endpoint');
    const jwks = JSON.parse((await get(`https://127.0.0.1:${publicPort}/jwks`, await readFile(pki.ca))).body);
    t.ok(jwks.keys.length >= 1 && jwks.keys.every((k: Record<string, unknown>) => !('d' in k)), 'JWKS with public keys only');

    const node = gatewayProcess(gateway.pid!);
    t.ok(node, 'the node process is found');
    if (node) {
      const status = await readFile(`/proc/${node}/status`, 'utf8');
      const ids = (name: string) => status.match(new RegExp(`^${name}:\\s+(.*)$`, 'm'))?.[1].split(/\s+/).map(Number);
      t.same(ids('Uid'), [IMAGE_USER, IMAGE_USER, IMAGE_USER, IMAGE_USER], 'runs as uid 10001 (real, effective, saved, fs)');
      t.same(ids('Gid'), [IMAGE_USER, IMAGE_USER, IMAGE_USER, IMAGE_USER], 'and gid 10001');
      t.match(status, /^CapEff:\s+0+$/m, 'with no capabilities');
      t.match((await readFile(`/proc/${node}/cmdline`, 'utf8')).split('\0')[0], /(^|\/)node$/, 'the process is node itself, no shell or npm');
    }

    gateway.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
    t.not(code, 'timeout', 'stops on SIGTERM');
    if (node) t.notOk(await exists(`/proc/${node}`), 'the node process is gone');

    // Nothing written to the image's filesystem (what a read-only root filesystem needs).
    const after = await snapshot(runRoot);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter((f) => before.get(f) !== after.get(f));
    t.same(changed, [], 'the gateway wrote nothing outside its mounts');
  });
}

/**
 * The base image as a tarball: Debian bookworm (debootstrap minbase) with this machine's Node 20 and
 * npm under /usr/local, cached for the day.
 */
async function baseTarball(): Promise<string> {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const name = `node20-bookworm-minbase-${day}-node${process.version}.tar`;
  const file = path.join(CACHE_DIR, name);
  if (await exists(file)) return file;
  await mkdir(CACHE_DIR, { recursive: true });
  const tmp = await mkdtemp(path.join(CACHE_DIR, 'build-'));
  try {
    const rootfs = path.join(tmp, 'rootfs');
    const log = path.join(tmp, 'debootstrap.log');
    const code = await runLogged('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR], log, 15 * 60_000);
    if (code !== 0) throw new Error(`debootstrap exited ${code}:\n${(await readFile(log, 'utf8')).slice(-3000)}`);
    const npm = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
    if (!(await exists(path.join(npm, 'bin', 'npm-cli.js')))) throw new Error(`no npm beside ${process.execPath} (looked in ${npm})`);
    await mkdir(path.join(rootfs, 'usr/local/bin'), { recursive: true });
    await mkdir(path.join(rootfs, 'usr/local/lib/node_modules'), { recursive: true });
    await copyFile(process.execPath, path.join(rootfs, 'usr/local/bin/node'));
    await chmod(path.join(rootfs, 'usr/local/bin/node'), 0o755);
    await cp(npm, path.join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr/local/bin/npx'));
    for (const junk of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const entry of await readdir(path.join(rootfs, junk)).catch(() => [] as string[]))
        if (entry !== 'partial' && entry !== 'lock') await rm(path.join(rootfs, junk, entry), { recursive: true, force: true });
    }
    await rm(path.join(rootfs, 'etc/resolv.conf'), { force: true });
    const partial = path.join(tmp, name);
    await run('tar', ['-C', rootfs, '--numeric-owner', '-cf', partial, '.'], { timeout: 300_000 });
    await rename(partial, file);
    // Earlier days' bases are not needed any more.
    for (const old of await readdir(CACHE_DIR))
      if (old.startsWith('node20-bookworm-minbase-') && old !== name) await rm(path.join(CACHE_DIR, old), { force: true });
    return file;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * npm registry settings for the build secret: the registry, the CA this machine's npm trusts (the
 * base has no CA bundle of this machine's), and the registry credentials lines of the user's npmrc.
 */
async function npmRegistrySettings(): Promise<string> {
  const get = async (key: string) => (await run('npm', ['config', 'get', key], { cwd: ROOT })).stdout.trim();
  const lines = [`registry=${await get('registry')}`];
  const cafile = await get('cafile');
  const caSource = cafile && cafile !== 'null' && cafile !== 'undefined' && (await exists(cafile)) ? cafile : process.env.NODE_EXTRA_CA_CERTS;
  if (caSource && (await exists(caSource))) {
    const certs = (await readFile(caSource, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    for (const cert of certs) lines.push(`ca[]="${cert.replace(/\r?\n/g, '\\n')}"`);
  }
  const userconfig = await get('userconfig');
  if (userconfig && (await exists(userconfig)))
    for (const line of (await readFile(userconfig, 'utf8')).split(/\r?\n/))
      if (/^\s*(\/\/[^=]+:(_authToken|_auth|username|_password|always-auth)|@[^:=]+:registry)\s*=/.test(line)) lines.push(line.trim());
  return lines.join('\n') + '\n';
}

/** Runs a program with its output in a log file; resolves with the exit code. */
function runLogged(command: string, args: string[], log: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(log);
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      out.end(() => resolve(code));
    });
  });
}

/** Files as the pod gets them: root-owned, readable by group 10001 only. */
async function ownForPod(dir: string): Promise<void> {
  await chown(dir, 0, IMAGE_USER);
  await chmod(dir, 0o750);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await ownForPod(p);
    else {
      await chown(p, 0, IMAGE_USER);
      await chmod(p, 0o440);
    }
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function waitFor(check: () => Promise<{ status: number }>, timeoutMs: number, gaveUp: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gaveUp()) {
    try {
      if ((await check()).status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  return false;
}

/** GET over plain HTTP (the ops port) or TLS trusting `ca` (the public listener on 127.0.0.1, named localhost). */
function get(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = ca ? { ca, servername: 'localhost', timeout: 10_000 } : { timeout: 5000 };
    const req = (ca ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The node process started under `ancestor` (buildah run → buildah-chroot-exec → node). */
function gatewayProcess(ancestor: number): number | undefined {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parents.get(pid), hops = 0; p !== undefined && hops < 20; p = parents.get(p), hops++) if (p === ancestor) return true;
    return false;
  };
  for (const pid of parents.keys()) {
    if (!descends(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)node$/.test(argv[0]) && argv.includes('dist/main.js')) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Every file, folder and symlink under `root` with its mode, size and mtime, except the mounts buildah run makes. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const skip = new Set(['proc', 'sys', 'dev', 'run', 'tmp', 'etc/fapi-gateway', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname']);
  const entries = new Map<string, string>();
  const visit = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      const rel = path.relative(root, p);
      if (skip.has(rel)) continue;
      const s = await lstat(p);
      // A folder's own mtime moves when buildah run adds a mount point; its entries are listed anyway.
      entries.set(rel, entry.isSymbolicLink() ? `link ${await readlink(p)}` : entry.isDirectory() ? `dir ${s.mode}` : `${s.mode} ${s.size} ${s.mtimeMs}`);
      if (entry.isDirectory()) await visit(p);
    }
  };
  await visit(root);
  return entries;
}

async function walk(dir: string, visit: (file: string, size: number) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await walk(p, visit);
    else if (entry.isFile()) await visit(p, (await stat(p)).size);
  }
}

const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);
