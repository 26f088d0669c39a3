import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { readFile } from 'node:fs/promises';
import { flushLogs, logDestination } from '../src/observability/logging.js';
import { testPki, testConfig } from './helpers/harness.js';
import { spawnGateway } from './helpers/gateway-process.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LINE = `${JSON.stringify({ level: 'info', msg: 'request', pad: 'x'.repeat(180) })}\n`;

/** A real pipe whose reader does not read: writes fail with EAGAIN once its 64 KiB are full. */
function stalledPipe(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-log-pipe-'));
  const fifo = path.join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  // Read-write: the open does not wait for a reader, and the pipe stays open with nobody reading.
  // The destination closes the fd when it ends; the test waits for that rather than closing it
  // itself (a late close of a reused fd number would hit someone else's file).
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const read = () => {
    let text = '';
    const buffer = Buffer.alloc(65536);
    for (;;) {
      try {
        const n = readSync(fd, buffer);
        if (n <= 0) return text;
        text += buffer.subarray(0, n).toString();
      } catch {
        return text; // EAGAIN: empty
      }
    }
  };
  return { fd, read };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

t.test('a stalled reader: lines past the bound are dropped and counted, the next line written says how many', async (t) => {
  const pipe = stalledPipe(t);
  let drops = 0;
  const destination = logDestination({ fd: pipe.fd, maxBufferBytes: 32_768, onDrop: () => drops++ });
  const closed = once(destination, 'close');
  for (let i = 0; i < 4000; i++) {
    destination.write(LINE);
    if (i % 100 === 0) await tick();
  }
  t.ok(drops > 0, `${drops} of 4000 lines dropped`);
  t.ok(drops < 4000, 'the pipe and the buffer took the others');

  // The reader wakes up: everything buffered arrives, then the note.
  let text = '';
  for (let i = 0; i < 200 && !text.includes('droppedLines'); i++) {
    text += pipe.read();
    await new Promise((r) => setTimeout(r, 50));
  }
  // Drops noted while the first bytes got through come first; each note counts the drops since the last.
  // On a busy machine the later notes take a while to drain: read until they add up, or give up late.
  const notesIn = (all: string) => all.split('\n').filter((line) => line.includes('droppedLines')).map((line) => JSON.parse(line));
  const noted = (all: string) => notesIn(all).reduce((sum, note) => sum + note.droppedLines, 0);
  for (let waited = 0; noted(text) < drops && waited < 20_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    text += pipe.read();
  }
  const notes = notesIn(text);
  t.ok(notes.length > 0, 'a line notes the drop');
  t.equal(notes.reduce((sum, note) => sum + note.droppedLines, 0), drops, 'with the number of lines dropped');
  t.ok(notes.every((note) => note.level === 'warn'), 'as a warning');
  await flushLogs(destination, Date.now() + 5000);
  await closed;
});

t.test('the final flush gives up at its deadline on a stalled reader', async (t) => {
  const pipe = stalledPipe(t);
  const destination = logDestination({ fd: pipe.fd, maxBufferBytes: 1_048_576 });
  const closed = once(destination, 'close');
  for (let i = 0; i < 2000; i++) destination.write(LINE);
  await tick();
  const started = Date.now();
  await flushLogs(destination, started + 500);
  t.ok(Date.now() - started < 10_000, 'returned (at its deadline, not when the reader came back)');
  t.doesNotThrow(() => destination.write(LINE), 'a line logged afterwards is dropped, not thrown');
  await closed;
});

t.test('process.exit with lines still buffered for a stalled stdout does not hang in pino\'s exit hook', async (t) => {
  const code = `import { logDestination } from './src/observability/logging.ts';
const destination = logDestination({ maxBufferBytes: 1 << 20 });
for (let i = 0; i < 20000; i++) destination.write('x'.repeat(200) + '\\n');
setTimeout(() => process.exit(3), 200);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pause(); // nobody reads
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [exitCode] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  t.equal(exitCode, 3, `exited with its own code, not killed by the test ${stderr}`);
});

t.test('the gateway with a stalled stdout: memory stays bounded, drops are counted, SIGTERM exits within the grace', async (t) => {
  const { pki } = await testPki();
  const config = await testConfig(pki);
  const graceSeconds = 10;
  config.shutdown = { graceSeconds, readinessDelaySeconds: 0 };
  config.log = { level: 'info', maxBufferBytes: 262_144 };
  const child = await spawnGateway(config, {}, { stalledStdout: true });
  t.teardown(() => child.stop('SIGKILL'));
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.child.pid}/status`, 'utf8'))![1]) * 1024;

  const pool = new Pool(config.issuer, { connections: 8, connect: { ca: await readFile(pki.ca), servername: 'localhost' } });
  t.teardown(() => pool.close());
  const drive = async (count: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < count) {
        const res = await pool.request({ path: '/.well-known/openid-configuration', method: 'GET' });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  };
  const metrics = async () => (await request(`http://${config.listeners.ops.host}:${config.listeners.ops.port}/metrics`)).body.text();
  // V8 grows the young generation under load (up to 2 x 16 MB), at a moment of its choosing: not log memory.
  const youngGeneration = async () => Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(await metrics())![1]);
  await drive(3000); // warm up; the pipe and the log buffer fill
  const before = { rss: rss(), young: await youngGeneration() };
  await drive(20_000);
  const young = (await youngGeneration()) - before.young;
  const growth = rss() - before.rss - young;
  t.comment(`RSS ${(before.rss / 2 ** 20).toFixed(1)} MB before, grew ${(growth / 2 ** 20).toFixed(1)} MB over 20,000 logged requests (besides ${(young / 2 ** 20).toFixed(1)} MB of young generation)`);
  t.ok(growth < 20 * 2 ** 20, 'RSS grew less than 20 MB');

  const dropped = Number(/^fapi_gateway_log_lines_dropped_total (\d+)/m.exec(await metrics())?.[1] ?? 0);
  t.ok(dropped > 10_000, `dropped lines are counted (${dropped})`);

  const signalledAt = Date.now();
  child.child.kill('SIGTERM');
  t.equal(await child.exited, 0, 'exit code 0');
  t.ok(Date.now() - signalledAt < graceSeconds * 1000, `exited within the grace (${Date.now() - signalledAt} ms)`);
});
