import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RecordKind } from '../../src/store/store.js';
import { TrackingStore } from '../helpers/tracking-store.js';

// A full collection makes heap figures comparable; the flag is set at run time so no special
// node option is needed (the `gc` function appears in contexts created afterwards).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Heap in use after a full collection, in bytes. */
export async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

const KINDS: RecordKind[] = ['par', 'interaction', 'session', 'consent', 'code', 'code-redeemed', 'grant', 'grant-ended', 'refresh', 'jti', 'revoked-at'];

/** Live records per kind in a tracking store. */
export async function liveRecords(store: TrackingStore): Promise<{ total: number; byKind: Partial<Record<RecordKind, number>> }> {
  const byKind: Partial<Record<RecordKind, number>> = {};
  let total = 0;
  for (const kind of KINDS) {
    const n = (await store.live(kind)).length;
    if (n > 0) byKind[kind] = n;
    total += n;
  }
  return { total, byKind };
}

export { TrackingStore };
