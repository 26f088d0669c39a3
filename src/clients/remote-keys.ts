import { createRemoteJWKSet, customFetch, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { OutboundFetch } from '../http/outbound-fetch.js';

/** The client's jwks_uri could not be fetched or read: the client's keys are unknown right now. */
export class ClientKeysUnavailableError extends Error {
  override readonly name = 'ClientKeysUnavailableError';
}

/** A client's remote keys: the verifier of its signatures, and the cached document (for its encryption keys). */
export type RemoteClientKeys = JWTVerifyGetKey & { document(): Promise<JSONWebKeySet> };

/**
 * A client's keys from its jwks_uri (jose's remote set: cached, fetched again for an unknown `kid`,
 * at most every 30 s). A failed fetch is told apart from a key that does not match, so that
 * operators see why the client's authentication failed. `fetch`: the guarded, bounded fetcher
 * (registered clients and directories); config clients' URLs are the operator's and use jose's own.
 */
export function remoteClientKeys(uri: string, fetch?: OutboundFetch): RemoteClientKeys {
  const remote = createRemoteJWKSet(new URL(uri), fetch ? { [customFetch]: fetch as never } : undefined);
  const unavailable = (err: unknown) =>
    new ClientKeysUnavailableError(`jwks_uri ${uri}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const verify: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw unavailable(err);
    }
  };
  // The same cache serves encryption keys (jose's resolver picks signature keys only).
  const document = async (): Promise<JSONWebKeySet> => {
    try {
      if (!remote.fresh || remote.jwks() === undefined) await remote.reload();
    } catch (err) {
      throw unavailable(err);
    }
    const jwks = remote.jwks();
    if (!jwks) throw unavailable(new Error('no key set'));
    return jwks;
  };
  return Object.assign(verify, { document });
}
