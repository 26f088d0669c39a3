import type { FastifyRequest } from 'fastify';
import type { BlockList } from 'node:net';
import type { Store } from '../store/store.js';
import { requestHtu } from './htu.js';
import { DpopNonces } from './nonce.js';
import { proofHeader, ProofRefused, verifyProof, type VerifiedProof } from './proof.js';
import { ProofKeyCache } from './proof-keys.js';
import type { DpopRules } from './rules.js';

/**
 * Checks the DPoP proof of a request (RFC 9449 §4.3) against the URL the client called, and records
 * its jti in the store for as long as the proof could be accepted, so that no replica accepts it twice.
 */
export class DpopVerifier {
  readonly keys = new ProofKeyCache();
  /** Present when the profile requires server nonces. */
  readonly nonces: DpopNonces | undefined;

  constructor(
    readonly rules: DpopRules,
    nonceKey: string | undefined,
    private readonly store: Store,
    private readonly trustedProxies: BlockList | undefined,
  ) {
    this.nonces = rules.nonce === 'required' ? new DpopNonces(nonceKey, rules.nonceWindowSeconds) : undefined;
  }

  /** The request's proof, verified and recorded; undefined when it has no DPoP header. Throws ProofRefused. */
  async check(request: FastifyRequest, accessToken?: string): Promise<VerifiedProof | undefined> {
    const proof = proofHeader(request);
    if (proof === undefined) return undefined;
    const verified = await verifyProof(proof, { htm: request.method, htu: requestHtu(request, this.trustedProxies), accessToken }, this);
    await this.#remember(verified);
    return verified;
  }

  async #remember(proof: VerifiedProof): Promise<void> {
    // Accepted while iat is no older than the maximum age: remembered until then, and not a second longer.
    const ttl = Math.max(1, proof.iat + this.rules.maxAgeSeconds - Math.floor(Date.now() / 1000) + 1);
    const first = await this.store.setIfAbsent('dpop-jti', `${proof.jkt}\u0000${proof.jti}`, 1, ttl);
    if (!first) throw new ProofRefused('replayed', 'the DPoP proof has been used before');
  }
}
