import { Redis } from 'ioredis';
import { startRedisServer } from '/work/wt-expiry/test/helpers/redis-server.ts';
const r = await startRedisServer({ args: ['--requirepass', 'secret'] });
const cases: Record<string, string> = {
  refused: 'redis://127.0.0.1:1',
  unknown: 'redis://nosuch.invalid:6379',
  wrongpass: `redis://:wrong@127.0.0.1:${r.port}`,
  nopass: `redis://127.0.0.1:${r.port}`,
};
for (const [name, url] of Object.entries(cases)) {
  const u = new URL(url);
  const c = new Redis({ host: u.hostname, port: Number(u.port), password: u.password || undefined, connectTimeout: 1000, commandTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: (n) => Math.min(n * 100, 1000) });
  const errs: string[] = [];
  c.on('error', (e: any) => errs.push(`${e.constructor.name} code=${e.code} errno=${e.errno} syscall=${e.syscall} msg=${e.message}`));
  await new Promise((res) => setTimeout(res, 1500));
  try { await c.get('x'); } catch (e: any) { console.log(name, 'cmd:', e.constructor.name, e.message); }
  console.log(name, 'status', c.status, errs.slice(0, 3));
  c.disconnect();
}
await r.stop();
