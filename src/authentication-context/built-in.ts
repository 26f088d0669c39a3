import type { GatewayContext } from '../context.js';
import type { User } from '../users/directory.js';
import { PASSWORD_AMR, PASSWORD_AND_TOTP_AMR, type Authentication } from './authentication.js';

/**
 * What a built-in login reached: the password path reaches `interaction.acr.password` (else the
 * user's or the profile's `acr` values); password and one-time code reach `interaction.acr.passwordAndTotp`
 * (else what the password alone reaches).
 */
export function builtInAuthentication(ctx: GatewayContext, user: User, secondFactor: boolean): Authentication {
  const configured = ctx.config.interaction.acr;
  const password = configured?.password ?? ctx.users.acrReached(user.sub, ctx.profile);
  return {
    sub: user.sub,
    authTime: Math.floor(Date.now() / 1000),
    acr: secondFactor ? (configured?.passwordAndTotp ?? password) : password,
    amr: secondFactor ? PASSWORD_AND_TOTP_AMR : PASSWORD_AMR,
  };
}
