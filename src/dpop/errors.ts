import { OAuthError } from '../oauth/errors.js';
import type { DpopNonces } from './nonce.js';
import type { ProofFailure, ProofRefused } from './proof.js';

/** Where a proof was refused, for the metric's label. */
export type DpopSite = 'authorization_server' | 'resource';

/** A refused DPoP proof as the client receives it; counted by reason in `fapi_gateway_dpop_proofs_rejected_total`. */
export class DpopRejected extends OAuthError {
  constructor(
    readonly reason: ProofFailure | 'required',
    readonly site: DpopSite,
    error: string,
    description: string,
    status: number,
    headers: Record<string, string>,
  ) {
    super(error, description, status, headers);
    if (reason === 'replayed') this.audit = 'dpop_proof_replayed';
    else if (reason === 'key_mismatch') this.audit = 'dpop_key_mismatch';
  }
}

/** At PAR and the token endpoint (RFC 9449 §5, §8): 400 `invalid_dpop_proof`, or `use_dpop_nonce` with a fresh nonce. */
export function authorizationServerRefusal(refused: ProofRefused, nonces: DpopNonces | undefined): DpopRejected {
  if (refused.reason === 'nonce' && nonces)
    return new DpopRejected('nonce', 'authorization_server', 'use_dpop_nonce', refused.description, 400, { 'dpop-nonce': nonces.current() });
  return new DpopRejected(refused.reason, 'authorization_server', 'invalid_dpop_proof', refused.description, 400, {});
}

/** At a resource (RFC 9449 §7.1, §9): 401 with a DPoP challenge naming the algorithms, and a fresh nonce when one is needed. */
export function resourceRefusal(refused: ProofRefused, algorithms: readonly string[], nonces: DpopNonces | undefined): DpopRejected {
  const useNonce = refused.reason === 'nonce' && nonces !== undefined;
  const error = useNonce ? 'use_dpop_nonce' : 'invalid_dpop_proof';
  const headers: Record<string, string> = { 'www-authenticate': dpopChallenge(error, refused.description, algorithms) };
  if (useNonce) headers['dpop-nonce'] = nonces.current();
  return new DpopRejected(refused.reason, 'resource', error, refused.description, 401, headers);
}

/** `WWW-Authenticate: DPoP …` (RFC 9449 §7.1); without an error when the request had no credentials at all. */
export function dpopChallenge(error: string | undefined, description: string, algorithms: readonly string[], scopes: readonly string[] = []): string {
  const parts: string[] = [];
  if (error !== undefined) parts.push(`error="${error}"`, `error_description="${description.replace(/["\\]/g, '')}"`);
  if (scopes.length) parts.push(`scope="${scopes.join(' ')}"`);
  parts.push(`algs="${algorithms.join(' ')}"`);
  return `DPoP ${parts.join(', ')}`;
}
