import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { request } from 'undici';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs the gateway CLI as its own process with `config` written to a YAML file; resolves once /healthz answers.
 * `stalledStdout`: nobody reads the child's stdout pipe (a stuck log shipper); `output()` then has stderr only.
 */
export async function spawnGateway(config: Record<string, any>, env: Record<string, string> = {}, options: { stalledStdout?: boolean } = {}): Promise<GatewayProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fapi-gateway-proc-'));
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), '--config', file], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  if (options.stalledStdout) child.stdout!.pause();
  else child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve(code);
    }),
  );
  const ops = config.listeners.ops;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${out}`);
    try {
      const res = await request(`http://${ops.host}:${ops.port}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
