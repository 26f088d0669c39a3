/**
 * `npm run replicas` and `npm run demo -- --replicas`: two replicas of the embedded defaults on one
 * Redis, and the walk-through sending every request to the other replica than the one before. They
 * listen on fixed ports (those of `npm start`), so a developer's run skips while those are taken.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { REPLICAS } from '../src/demo/replica-ports.js';
import { SAMPLE_BANK } from '../src/config/embedded.js';
import { requireProgram } from './helpers/programs.js';
import { portFree } from './helpers/ports.js';
import { startRedisServer } from './helpers/redis-server.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));


async function portsFree(t: Test): Promise<boolean> {
  const ports = [...Object.values(REPLICAS).flatMap((r) => [r.public, r.mtls, r.ops]), SAMPLE_BANK.port];
  const taken = [];
  for (const port of ports) if (!(await portFree(port))) taken.push(port);
  if (taken.length === 0) return true;
  const reason = `ports ${taken.join(', ')} are in use (is \`npm start\` running?)`;
  if (process.env.CI === 'true') t.fail(`${reason}; CI must have them free`);
  else t.pass('needs the fixed demo ports', { skip: reason });
  return false;
}

if (requireProgram(t, 'redis-server', 'apt-get install redis-server') && (await portsFree(t))) {
  t.test('two replicas on one Redis, and the walk-through alternating between them', async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const launcher = spawn(process.execPath, ['--import', 'tsx', 'src/demo/replicas.ts', '--redis', redis.url, '--key-prefix', 'fapi-gateway-demo-test:'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    launcher.stdout!.on('data', (c) => (output += c));
    launcher.stderr!.on('data', (c) => (output += c));
    const exited = once(launcher, 'exit');
    // SIGINT lets the launcher stop its replicas; SIGKILL alone would leave them running.
    t.teardown(async () => {
      if (launcher.exitCode !== null || launcher.signalCode !== null) return;
      launcher.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      launcher.kill('SIGKILL');
    });
    for (let waited = 0; !output.includes('walk-through alternating') && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    t.match(output, 'walk-through alternating A and B', 'the launcher started both replicas');
    t.notMatch(output, 'not ready', 'both replicas are ready');

    const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo/walkthrough.ts', '--replicas'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let demoOutput = '';
    demo.stdout!.on('data', (c) => (demoOutput += c));
    demo.stderr!.on('data', (c) => (demoOutput += c));
    const [code] = await once(demo, 'exit');
    t.equal(code, 0, `the walk-through succeeds${code === 0 ? '' : `:\n${demoOutput.slice(-1500)}`}`);
    t.match(demoOutput, /Replicas, request by request: A B A B A B/, 'its requests alternate between the replicas');

    launcher.kill('SIGINT');
    const [launcherCode] = await exited;
    t.equal(launcherCode, 0, 'the launcher stops both replicas and exits cleanly');
    t.match(output, '[A] exited with 0');
    t.match(output, '[B] exited with 0');
  });
}
