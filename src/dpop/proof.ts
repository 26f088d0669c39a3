import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import { constantTimeEqual } from '../tokens/secrets.js';
import { normalizeHtu } from './htu.js';
import { verifyCompactSignature } from '../keys/jws-signature.js';
import type { DpopNonces } from './nonce.js';
import type { ProofKey, ProofKeyCache } from './proof-keys.js';
import type { DpopRules } from './rules.js';

export const DPOP_PROOF_TYPE = 'dpop+jwt';

/** Why a proof was refused: for metrics (`fapi_gateway_dpop_proofs_rejected_total{reason}`) and audit logs. */
export type ProofFailure =
  | 'missing'
  | 'multiple'
  | 'malformed'
  | 'typ'
  | 'alg'
  | 'jwk'
  | 'signature'
  | 'claims'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'nonce'
  | 'replayed'
  | 'key_mismatch';

/** A proof refused; the endpoint turns it into its own kind of answer (400 at the AS, 401 at resources). */
export class ProofRefused extends Error {
  constructor(
    readonly reason: ProofFailure,
    readonly description: string,
  ) {
    super(description);
  }
}

/** A verified proof: the key's thumbprint binds tokens; jti and iat feed the replay cache. */
export interface VerifiedProof {
  jkt: string;
  jti: string;
  iat: number;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_PROOF_LENGTH = 8192;

/**
 * The request's one `DPoP` header (RFC 9449 §4.3 check 1), whatever the case of its name; undefined
 * when there is none. Node joins repeated headers, so they are counted in the raw list.
 */
export function proofHeader(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 4 || raw[i].toLowerCase() !== 'dpop') continue;
    if (value !== undefined) throw new ProofRefused('multiple', 'exactly one DPoP header is allowed');
    value = raw[i + 1];
  }
  return value;
}

export interface ProofExpectations {
  /** The request's method and normalised URL. */
  htm: string;
  htu: string | undefined;
  /** At a resource: the access token the proof must name in `ath`. */
  accessToken?: string;
}

/** Checks a proof per RFC 9449 §4.3 (all but the replay, which needs the store): the verified key and claims. */
export async function verifyProof(
  proof: string,
  expected: ProofExpectations,
  deps: { rules: DpopRules; keys: ProofKeyCache; nonces: DpopNonces | undefined; now?: number },
): Promise<VerifiedProof> {
  const { rules } = deps;
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) throw new ProofRefused('malformed', 'the DPoP proof is not a JWS in compact form');
  const segment = proof.slice(0, proof.indexOf('.'));
  const { alg, key } = deps.keys.vettedHeader(segment) ?? (await vetHeader(proof, segment, deps));
  if (!verifyCompactSignature(proof, alg, key.key)) throw new ProofRefused('signature', 'the DPoP proof signature is invalid');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(proof.slice(proof.indexOf('.') + 1, proof.lastIndexOf('.')), 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ProofRefused('malformed', 'the DPoP proof claims are not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new ProofRefused('malformed', 'the DPoP proof claims are not a JSON object');

  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 512) throw new ProofRefused('claims', 'the DPoP proof jti is missing or invalid');
  if (htm !== expected.htm) throw new ProofRefused('htm', 'the DPoP proof htm does not match the request method');
  if (typeof htu !== 'string' || expected.htu === undefined || (htu !== expected.htu && normalizeHtu(htu) !== expected.htu))
    throw new ProofRefused('htu', 'the DPoP proof htu does not match the request URL');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new ProofRefused('claims', 'the DPoP proof iat is missing or invalid');
  const now = deps.now ?? Math.floor(Date.now() / 1000);
  if (iat > now + rules.futureToleranceSeconds) throw new ProofRefused('iat', 'the DPoP proof iat is in the future');
  if (now - iat > rules.maxAgeSeconds) throw new ProofRefused('iat', 'the DPoP proof is too old');
  if (expected.accessToken !== undefined) {
    if (typeof claims.ath !== 'string') throw new ProofRefused('ath', 'the DPoP proof ath is missing');
    if (!constantTimeEqual(claims.ath, accessTokenHash(expected.accessToken))) throw new ProofRefused('ath', 'the DPoP proof ath does not match the access token');
  }
  // Last: a client told to use a nonce retries with a new proof, so nothing else should be wrong with it.
  if (deps.nonces && !deps.nonces.valid(claims.nonce))
    throw new ProofRefused('nonce', claims.nonce === undefined ? 'a DPoP nonce is required' : 'the DPoP nonce is invalid or has expired');
  return { jkt: key.jkt, jti, iat };
}

/** The header checks of RFC 9449 §4.3 (typ, alg, jwk); a header that passes is remembered with its key. */
async function vetHeader(proof: string, segment: string, deps: { rules: DpopRules; keys: ProofKeyCache }): Promise<{ alg: string; key: ProofKey }> {
  const { rules } = deps;
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new ProofRefused('malformed', 'the DPoP proof header cannot be read');
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== DPOP_PROOF_TYPE) throw new ProofRefused('typ', `the DPoP proof typ must be ${DPOP_PROOF_TYPE}`);
  if (typeof header.alg !== 'string' || !rules.algorithms.includes(header.alg as never))
    throw new ProofRefused('alg', `the DPoP proof must be signed with one of ${rules.algorithms.join(', ')}`);
  const key = await deps.keys.import(header.jwk, header.alg);
  if (!key) throw new ProofRefused('jwk', 'the DPoP proof jwk must be a public key of sufficient strength for its alg');
  // No JWS extensions are understood (RFC 7515 §4.1.11), and the payload is always base64url (RFC 7797).
  if (header.crit !== undefined || header.b64 !== undefined) throw new ProofRefused('malformed', 'the DPoP proof uses JWS extensions');
  deps.keys.rememberHeader(segment, header.alg, key);
  return { alg: header.alg, key };
}

/** RFC 9449 §4.2 `ath`: the base64url SHA-256 of the access token's ASCII text. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}
