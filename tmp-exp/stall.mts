import { RedisStore } from '/work/wt-expiry/src/store/redis.ts';
import { startRedisServer } from '/work/wt-expiry/test/helpers/redis-server.ts';
const r = await startRedisServer();
const s = new RedisStore({ url: r.url });
await new Promise(r=>setTimeout(r,300)); await s.set('par', 'a', 1, 10);
r.pause();
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  try { await s.get('par', 'a'); } catch (e) { console.log((e as Error).message); }
  console.log('get', performance.now() - t0);
  const t1 = performance.now();
  try { await s.ping(); } catch (e) { console.log((e as Error).message); }
  console.log('ping', performance.now() - t1);
}
r.resume(); await s.close(); await r.stop();
