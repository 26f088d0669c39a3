import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { processCpuMs } from './proc.js';

/** A server under test, running in its own process so its CPU use can be read on its own. */
export interface ServerProcess {
  name: string;
  pid: number;
  /** CPU milliseconds the server process has used so far. */
  cpuMs(): number;
  /** The last lines the process printed (for error reports). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** Arguments to `node` (the same binary as the bench). */
  nodeArgs: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolves true once the server answers (it gets what the process printed so far). */
  ready: (output: string) => Promise<boolean>;
  readyTimeoutMs?: number;
}

export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, options.nodeArgs, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  // Never leave a server behind, even when the bench dies.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exit = once(child, 'exit').then(() => {
    exited = true;
    process.off('exit', killOnExit);
  });
  const output = () => lines.join('\n');

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`${options.name} exited during start-up:\n${output()}`);
    if (await options.ready(output()).catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const pid = child.pid!;
  return {
    name: options.name,
    pid,
    cpuMs: () => processCpuMs(pid),
    output,
    async stop(graceMs = 10_000) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** True when a plain-HTTP GET of `url` answers 200. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.status === 200;
}
