import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ClientKeysUnavailableError } from '../../../clients/remote-keys.js';
import type { Store } from '../../../store/store.js';
import { cdsErrors } from './cds-errors.js';

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** Clock skew allowed on iat/nbf/exp. */
const TOLERANCE_SECONDS = 30;
/** A JWT living longer than this is refused: its jti would have to be remembered as long. */
const MAX_LIFETIME_SECONDS = 3600;

/**
 * The CDR Register's self-signed JWT on the admin endpoints (CDS: iss = sub = the Register, aud = the
 * holder's admin base URI or the endpoint's URL, signed with a key of the Register JWKS, jti used once).
 */
export class RegisterJwtVerifier {
  constructor(
    private readonly deps: { issuer: string; keys: JWTVerifyGetKey; audiences: (endpointUrl: string) => string[]; store: Store },
  ) {}

  /** Resolves when the request's Authorization header carries a valid, unused Register JWT; throws a CdsError otherwise. */
  async verify(authorization: string | undefined, endpointUrl: string): Promise<void> {
    if (authorization === undefined) throw cdsErrors.unauthorised('a Bearer JWT signed by the CDR Register is required');
    const match = BEARER.exec(authorization);
    if (!match) throw cdsErrors.unauthorised('the Authorization header is not a Bearer token');
    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], this.deps.keys, {
        issuer: this.deps.issuer,
        subject: this.deps.issuer,
        audience: this.deps.audiences(endpointUrl),
        algorithms: ['PS256'],
        clockTolerance: TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      if (err instanceof ClientKeysUnavailableError) throw cdsErrors.unavailable("the CDR Register's keys cannot be fetched; retry later");
      throw cdsErrors.unauthorised(describe(err));
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp as number;
    if (exp - now > MAX_LIFETIME_SECONDS) throw cdsErrors.unauthorised('the JWT lives too long');
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 512) throw cdsErrors.unauthorised('the JWT jti is invalid');
    const first = await this.deps.store.setIfAbsent('ecosystem', `cdr:register-jti:${payload.jti}`, 1, Math.max(1, exp - now + TOLERANCE_SECONDS));
    if (!first) throw cdsErrors.unauthorised('the JWT has been used before');
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the JWT has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the JWT ${err.claim} is not acceptable`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'the JWT is signed by a key the CDR Register does not publish';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the JWT signature is invalid';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the JWT must be signed with PS256';
  return 'the JWT cannot be verified';
}
