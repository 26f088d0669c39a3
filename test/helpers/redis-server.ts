import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (the port stays reserved for restart). */
  stop(): Promise<void>;
  /** Stops it if running, then starts a fresh, empty one on the same port. */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open and nothing answers, as when Redis hangs. */
  pause(): void;
  /** Lets a paused process go on (SIGCONT). */
  resume(): void;
}

export interface RedisServerOptions {
  /** The port; a free one by default. */
  port?: number;
  /** More redis-server arguments (e.g. `--replicaof`, `--cluster-enabled yes`). */
  args?: string[];
  /** A config file to start from (sentinels need one they can rewrite). */
  configFile?: string;
}

/**
 * A throwaway redis-server on a free loopback port: no persistence, killed when the test process
 * exits. Its working folder is a temp folder of its own (a replica writes the RDB it syncs there),
 * removed when the test process exits.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-gateway-redis-'));
  folders.add(dir);
  const start = () => launch(port, { ...options, args: ['--dir', dir, ...(options.args ?? [])] });
  let child: ChildProcess | undefined = await start();
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running) await terminate(running);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: async () => {
      await stop();
      child = await start();
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
}

const alive = new Set<ChildProcess>();
const folders = new Set<string>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

async function launch(port: number, options: RedisServerOptions): Promise<ChildProcess> {
  const args = [
    ...(options.configFile ? [options.configFile] : []),
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    ...(options.args ?? []),
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  alive.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  child.once('exit', () => {
    exited = true;
    alive.delete(child);
  });
  child.once('error', () => (exited = true));
  for (let waited = 0; waited < 5_000; waited += 50) {
    if (exited) throw new Error(`redis-server on port ${port} exited: ${stderr.trim() || 'no output'}`);
    if (await answersPing(port)) return child;
    await sleep(50);
  }
  await terminate(child);
  throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

/** A raw PING, so the helper needs no Redis client (and the client under test stays unprimed). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    // A server started with --requirepass answers NOAUTH: up all the same.
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}
