import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { methodNotAllowed } from '../http/error-handler.js';
import { guard, TokenRejected } from '../tokens/guard.js';
import { sendUserinfo } from './userinfo-response.js';

/** Claims released per scope (OIDC Core §5.4). */
const SCOPE_CLAIMS: Record<string, string[]> = {
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

/** UserInfo (OIDC Core §5.3): a protected resource like any other, needing `openid`. */
export function userinfoRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = await guard(ctx, request, ['openid']);
    const grant = await ctx.grants.get(token.grant_id);
    // A built-in user's claims come from the config; a bank login's were recorded with the grant.
    // The token's sub is the one the client sees (maybe pairwise); the customer's own is the grant's.
    const userClaims = (grant && ctx.users.bySub(grant.sub)?.claims) ?? grant?.userClaims ?? (ctx.config.interaction.mode === 'builtin' ? undefined : {});
    if (!grant || !userClaims)
      throw new TokenRejected('revoked', 'invalid_token', 'the authorization has ended', [], token.cnf.jkt !== undefined ? ctx.dpop.rules.algorithms : undefined);
    const released = new Set(token.scope.split(' ').flatMap((s) => SCOPE_CLAIMS[s] ?? []));
    for (const name of Object.keys(grant.claims?.userinfo ?? {})) released.add(name);
    const client = await ctx.clients.get(token.client_id);
    const body: Record<string, unknown> = { sub: token.sub };
    for (const name of released) if (name in userClaims && name !== 'sub') body[name] = userClaims[name];
    return sendUserinfo(ctx, reply, client, body);
  };
  app.get(PATHS.userinfo, handler);
  app.post(PATHS.userinfo, handler);
  methodNotAllowed(app, PATHS.userinfo, ['GET', 'POST']);
}
