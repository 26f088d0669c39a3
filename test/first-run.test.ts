import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { freePort } from './helpers/harness.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');

async function node(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: ROOT, timeout: 120_000, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

t.test('the fapi-gateway command (package.json bin) runs without a build', async (t) => {
  const { code, stdout } = await node(['bin/fapi-gateway.js', '--help']);
  t.equal(code, 0);
  t.match(stdout, /fapi-gateway audit verify FILE/, 'and lists its commands');
});

t.test('the demo without a gateway says to start it first', async (t) => {
  const port = await freePort();
  const { code, stderr } = await node(['bin/run-entry.js', 'demo/walkthrough'], { FAPI_GATEWAY_ISSUER: `https://localhost:${port}` });
  t.equal(code, 1);
  // Without the dev PKI (a fresh clone) or without a listener: the same advice.
  t.match(stderr, /start the gateway first \(npm start\)/);
});
