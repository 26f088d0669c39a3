import type { FastifyRequest } from 'fastify';
import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import { invalidRequest } from '../oauth/errors.js';
import type { PeerCertificate } from '../tls/peer-certificate.js';
import { authorizationServerRefusal, DpopRejected } from './errors.js';
import { ProofRefused, type VerifiedProof } from './proof.js';

const JKT = /^[A-Za-z0-9_-]{43}$/;

/** The DPoP proof of a PAR or token request, verified and recorded; undefined when it carries none. */
export async function proofAtAuthorizationServer(ctx: GatewayContext, request: FastifyRequest): Promise<VerifiedProof | undefined> {
  try {
    return await ctx.dpop.check(request);
  } catch (err) {
    if (err instanceof ProofRefused) throw authorizationServerRefusal(err, ctx.dpop.nonces);
    throw err;
  }
}

/**
 * RFC 9449 §10: the key a pushed request's code is bound to, from its proof or its `dpop_jkt`
 * parameter; when both are sent they must name the same key.
 */
export function pushedRequestKey(proof: VerifiedProof | undefined, dpopJkt: string | undefined): string | undefined {
  if (dpopJkt !== undefined && !JKT.test(dpopJkt)) throw invalidRequest('dpop_jkt must be a base64url SHA-256 JWK thumbprint');
  if (proof && dpopJkt !== undefined && proof.jkt !== dpopJkt)
    throw new DpopRejected('key_mismatch', 'authorization_server', 'invalid_dpop_proof', 'dpop_jkt does not match the key of the DPoP proof', 400, {});
  return proof?.jkt ?? dpopJkt;
}

/** What a token request's access tokens get bound to: the proof's key, else the client certificate (RFC 8705). */
export type TokenBinding = { dpopJkt: string; certificateThumbprint?: undefined } | { certificateThumbprint: string; dpopJkt?: undefined };

export function tokenBinding(client: Client, proof: VerifiedProof | undefined, certificate: PeerCertificate | undefined): TokenBinding {
  if (proof) return { dpopJkt: proof.jkt };
  // RFC 9449 §5.2: such a client's tokens are always DPoP-bound.
  if (client.metadata.dpop_bound_access_tokens)
    throw new DpopRejected('missing', 'authorization_server', 'invalid_dpop_proof', 'this client must send a DPoP proof', 400, {});
  // Access tokens are always sender-constrained: no proof and no certificate, nothing to bind them to.
  if (!certificate) throw invalidRequest('a DPoP proof or a client certificate is required: access tokens are bound to one');
  return { certificateThumbprint: certificate.thumbprint };
}

/** A fresh nonce on every answer of the authorization server while nonces are required (RFC 9449 §8.2). */
export function nonceHeaders(ctx: GatewayContext): Record<string, string> {
  return ctx.dpop.nonces ? { 'dpop-nonce': ctx.dpop.nonces.current() } : {};
}
