import type { Store } from '../../store/store.js';
import { RequestObjectError } from './errors.js';

/**
 * Records a request object's `jti` for as long as the object could be accepted; refuses one seen
 * before. Through the Store, so every replica agrees. Kept apart from client assertion jtis.
 */
export async function recordRequestObjectJti(store: Store, clientId: string, jti: string, ttlSeconds: number): Promise<void> {
  const first = await store.setIfAbsent('jti', `request-object\u0000${clientId}\u0000${jti}`, 1, ttlSeconds);
  if (!first) throw new RequestObjectError('replayed', 'this request object has been used before (jti)');
}
