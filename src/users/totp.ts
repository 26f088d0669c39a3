import { Secret, TOTP } from 'otpauth';

/** RFC 6238 with the parameters authenticator apps assume: SHA-1, 6 digits, 30-second steps. */
const PERIOD = 30;
const CODE = /^\d{6}$/;

export class TotpSecret {
  readonly #totp: TOTP;

  constructor(base32: string) {
    this.#totp = new TOTP({ secret: Secret.fromBase32(base32.replace(/=+$/, '').toUpperCase()), algorithm: 'SHA1', digits: 6, period: PERIOD });
  }

  /**
   * The time step a code belongs to, when it is right now or one step either side (clock drift);
   * undefined otherwise. The caller refuses a step already used (a code is one-time).
   */
  stepOf(code: string, now = Date.now()): number | undefined {
    if (!CODE.test(code)) return undefined;
    const delta = this.#totp.validate({ token: code, timestamp: now, window: 1 });
    return delta === null ? undefined : Math.floor(now / 1000 / PERIOD) + delta;
  }

  /** The current code (tests and the demo's enrolment output). */
  now(timestamp = Date.now()): string {
    return this.#totp.generate({ timestamp });
  }
}

/** How long a used step is remembered: past the window's far edge. */
export const USED_STEP_TTL_SECONDS = PERIOD * 3;
