import type { FastifyRequest } from 'fastify';
import { errors as joseErrors, jwtVerify, type JWTHeaderParameters } from 'jose';
import type { GatewayContext } from '../context.js';
import { OAuthError } from '../oauth/errors.js';
import { ACCESS_TOKEN_TYPE, type AccessTokenClaims } from './access-token.js';
import { constantTimeEqual } from './secrets.js';
import { usableCertificate } from '../tls/peer-certificate.js';
import { dpopBoundClaims } from '../dpop/resource.js';
import { dpopChallenge } from '../dpop/errors.js';
import type { RecordKind, SequenceStep } from '../store/store.js';

/** Why a token was refused: for metrics and audit logs. */
export type GuardFailure =
  | 'missing'
  | 'malformed_header'
  | 'token_in_query'
  | 'invalid'
  | 'expired'
  | 'revoked'
  | 'no_certificate'
  | 'certificate_mismatch'
  | 'insufficient_scope'
  | 'dpop_token_as_bearer'
  | 'certificate_token_as_dpop';

export class TokenRejected extends OAuthError {
  constructor(
    readonly reason: GuardFailure,
    error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | undefined,
    description: string,
    requiredScopes: readonly string[] = [],
    /** For a DPoP-bound token (RFC 9449 §7.1): the challenge is DPoP's, naming the proof algorithms. */
    dpopAlgorithms?: readonly string[],
  ) {
    const status = error === 'invalid_request' ? 400 : error === 'insufficient_scope' ? 403 : 401;
    const www = dpopAlgorithms
      ? dpopChallenge(error, description, dpopAlgorithms, error === 'insufficient_scope' ? requiredScopes : [])
      : challenge(error, description, requiredScopes);
    super(error ?? 'invalid_token', description, status, { 'www-authenticate': www });
    if (reason === 'certificate_mismatch' || reason === 'no_certificate') this.audit = 'certificate_mismatch';
    else if (reason === 'revoked') this.audit = 'revoked_token_used';
  }
}

function challenge(error: string | undefined, description: string, scopes: readonly string[]): string {
  // RFC 6750 §3: no error attribute when the request carried no token at all.
  if (error === undefined) return 'Bearer';
  const parts = [`error="${error}"`, `error_description="${description.replace(/["\\]/g, '')}"`];
  if (error === 'insufficient_scope' && scopes.length) parts.push(`scope="${scopes.join(' ')}"`);
  return `Bearer ${parts.join(', ')}`;
}

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const DPOP = /^dpop +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The access token of a request and its scheme: from the Authorization header only (FAPI 2.0 §5.3.3). */
export function presentedToken(request: FastifyRequest): { scheme: 'Bearer' | 'DPoP'; token: string } {
  const query = request.query as Record<string, unknown> | undefined;
  const body = request.body as Record<string, unknown> | undefined;
  if ((query && 'access_token' in query) || (body && typeof body === 'object' && 'access_token' in body))
    throw new TokenRejected('token_in_query', 'invalid_request', 'send the access token in the Authorization header only');
  const header = request.headers.authorization;
  if (header === undefined) throw new TokenRejected('missing', undefined, 'an access token is required');
  const bearer = BEARER.exec(header);
  if (bearer) return { scheme: 'Bearer', token: bearer[1] };
  const dpop = DPOP.exec(header);
  if (dpop) return { scheme: 'DPoP', token: dpop[1] };
  throw new TokenRejected('malformed_header', 'invalid_request', 'the Authorization header is not a Bearer or DPoP token');
}

/** The records whose presence ends a token: its own revocation, its grant's end, and (a deleted registered client's tokens end with it) its client's. */
function endingRecords(claims: AccessTokenClaims): Array<[RecordKind, string]> {
  return [
    ['revoked-at', claims.jti],
    ['grant-ended', claims.grant_id],
    ['client-ended', claims.client_id],
  ];
}

/** A DPoP-bound token's refusal carries DPoP's challenge, naming the proof algorithms (RFC 9449 §7.1). */
const revokedToken = (dpopAlgorithms?: readonly string[]) => new TokenRejected('revoked', 'invalid_token', 'the access token has been revoked', [], dpopAlgorithms);

async function checkUnrevoked(ctx: GatewayContext, claims: AccessTokenClaims, dpopAlgorithms?: readonly string[]): Promise<void> {
  if (await ctx.store.anyExists(endingRecords(claims))) throw revokedToken(dpopAlgorithms);
}

/**
 * Verifies one of our access tokens locally: signature, type, issuer, audience, expiry, then
 * revocation (unless `revocation` is 'in-write': see guardWithWrite).
 */
export async function verifyAccessToken(ctx: GatewayContext, token: string, revocation: RevocationCheck = 'now'): Promise<AccessTokenClaims> {
  let claims = ctx.verifiedTokens.get(token, Math.floor(Date.now() / 1000));
  if (claims === undefined) {
    claims = await verifySignedToken(ctx, token);
    ctx.verifiedTokens.add(token, claims);
  }
  if (revocation === 'now') await checkUnrevoked(ctx, claims);
  return claims;
}

/** Whether the token's revocation is checked with its other checks, or by the handler's write (guardWithWrite). */
export type RevocationCheck = 'now' | 'in-write';

async function verifySignedToken(ctx: GatewayContext, token: string): Promise<AccessTokenClaims> {
  let claims: AccessTokenClaims;
  try {
    const verified = await jwtVerify<AccessTokenClaims>(token, (header: JWTHeaderParameters) => keyFor(ctx, header), {
      issuer: ctx.urls.issuer,
      audience: ctx.urls.mtlsBase,
      typ: ACCESS_TOKEN_TYPE,
      algorithms: ctx.profile.algorithms.signing,
      requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'sub', 'scope', 'cnf'],
    });
    claims = verified.payload;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new TokenRejected('expired', 'invalid_token', 'the access token has expired');
    throw new TokenRejected('invalid', 'invalid_token', 'the access token is invalid');
  }
  const cnf = claims.cnf as Record<string, unknown> | undefined;
  if ((typeof cnf?.['x5t#S256'] !== 'string' && typeof cnf?.jkt !== 'string') || typeof claims.grant_id !== 'string')
    throw new TokenRejected('invalid', 'invalid_token', 'the access token is invalid');
  return claims;
}

function keyFor(ctx: GatewayContext, header: JWTHeaderParameters): CryptoKey {
  const entry = ctx.keys.verificationKey(header.kid);
  if (!entry || entry.alg !== header.alg) throw new Error('unknown key');
  return entry.key;
}

/**
 * The protected-resource check shared by userinfo and every proxied API: an access token from the
 * header, valid and unrevoked, bound to this connection's client certificate (Bearer) or to the key
 * of the request's DPoP proof (DPoP), holding the scopes.
 */
export async function guard(ctx: GatewayContext, request: FastifyRequest, requiredScopes: readonly string[], revocation: RevocationCheck = 'now'): Promise<AccessTokenClaims> {
  const { scheme, token } = presentedToken(request);
  const claims = scheme === 'DPoP' ? await dpopBoundClaims(ctx, request, token, revocation) : await certificateBoundClaims(ctx, request, token, revocation);
  const refusal = ctx.hooks.clientRefusal?.(claims.client_id);
  if (refusal) throw refusal;
  if (requiredScopes.length) {
    const held = new Set(claims.scope.split(' '));
    if (!requiredScopes.every((s) => held.has(s)))
      throw new TokenRejected('insufficient_scope', 'insufficient_scope', 'the access token lacks a required scope', requiredScopes, scheme === 'DPoP' ? ctx.dpop.rules.algorithms : undefined);
  }
  return claims;
}

async function certificateBoundClaims(ctx: GatewayContext, request: FastifyRequest, token: string, revocation: RevocationCheck): Promise<AccessTokenClaims> {
  const claims = await verifyAccessToken(ctx, token, revocation);
  request.clientId = claims.client_id;
  // RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token.
  if (claims.cnf.jkt !== undefined)
    throw new TokenRejected('dpop_token_as_bearer', 'invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a proof', [], ctx.dpop.rules.algorithms);
  const certificate = usableCertificate(ctx.peerCertificate(request.raw));
  if (!certificate) throw new TokenRejected('no_certificate', 'invalid_token', 'the access token is bound to a client certificate; none was presented');
  if (!constantTimeEqual(certificate.thumbprint, claims.cnf['x5t#S256']))
    throw new TokenRejected('certificate_mismatch', 'invalid_token', 'the access token is bound to another client certificate');
  return claims;
}

/**
 * `guard` for a handler that answers with one store write: the token's revocation is checked by
 * that write, as the first steps of its sequence (`unrevoked`), so the call costs one round trip
 * rather than a check and then the write, and no revocation falls between the two. `act` answers
 * undefined when those steps stopped its write. When `act` refuses the request before writing, the
 * revocation is checked then, so that a revoked token is refused as such whatever else is wrong.
 */
export async function guardWithWrite<T>(
  ctx: GatewayContext,
  request: FastifyRequest,
  requiredScopes: readonly string[],
  act: (claims: AccessTokenClaims, unrevoked: SequenceStep[]) => Promise<T | undefined>,
): Promise<T> {
  const claims = await guard(ctx, request, requiredScopes, 'in-write');
  // guard took a DPoP-bound token only with the DPoP scheme.
  const dpopAlgorithms = claims.cnf.jkt !== undefined ? ctx.dpop.rules.algorithms : undefined;
  let done: T | undefined;
  try {
    done = await act(
      claims,
      endingRecords(claims).map(([kind, id]) => ({ absent: kind, id })),
    );
  } catch (err) {
    await checkUnrevoked(ctx, claims, dpopAlgorithms);
    throw err;
  }
  if (done === undefined) throw revokedToken(dpopAlgorithms);
  return done;
}
