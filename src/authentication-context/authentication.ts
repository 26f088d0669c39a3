/**
 * What happened when the customer signed in, as every login mode records it: the ID token states
 * `auth_time`, one of the `acr` values reached (or none) and `amr` from here, never from the request.
 */
export interface Authentication {
  sub: string;
  /** Seconds since the epoch. */
  authTime: number;
  /** The `acr` values this login reached. */
  acr: string[];
  /** How the customer authenticated (RFC 8176 values). */
  amr?: string[];
  /** Claims about the customer asserted by the bank's login (external and oidc modes). */
  claims?: Record<string, unknown>;
}

/** RFC 8176 methods of the built-in login. */
export const PASSWORD_AMR = ['pwd'];
export const PASSWORD_AND_TOTP_AMR = ['pwd', 'otp', 'mfa'];
