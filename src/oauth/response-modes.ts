import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';
import { authorizationResponseJwt } from './jarm/response-jwt.js';

/**
 * Response modes as encoders of the authorization response (OAuth 2.0 Multiple Response Type
 * Encoding Practices, JARM). JARM is offered for response_type=code only, so its `jwt` is `query.jwt`
 * (JARM §2.3.4); the hybrid `code id_token` answers in the fragment. JARM allows `fragment.jwt` and `form_post.jwt` with any response type; they are
 * not offered (a profile cannot list them): FAPI clients are confidential and read the query, and a
 * form post would need an auto-submitting page (script, and a CSP that allows it).
 */
export type ResponseModeEncoder = (input: {
  ctx: GatewayContext;
  client: Client;
  redirectUri: string;
  params: Record<string, string>;
}) => Promise<string>;

/** Appended, not re-serialised: a query already in the registered URI is kept byte for byte. */
function appendQuery(redirectUri: string, params: Record<string, string>): string {
  const separator = redirectUri.includes('?') ? (redirectUri.endsWith('?') || redirectUri.endsWith('&') ? '' : '&') : '?';
  return redirectUri + separator + new URLSearchParams(params).toString();
}

const query: ResponseModeEncoder = async ({ redirectUri, params }) => appendQuery(redirectUri, params);

/** JARM in the query: `response` is the only parameter we add; `iss` and `state` are inside the JWT. */
const queryJwt: ResponseModeEncoder = async ({ ctx, client, redirectUri, params }) =>
  appendQuery(redirectUri, { response: await authorizationResponseJwt(ctx, client, params) });

/** The fragment (the hybrid flow's default): never sent to the server, read by the client's page. */
const fragment: ResponseModeEncoder = async ({ redirectUri, params }) => `${redirectUri}#${new URLSearchParams(params).toString()}`;

export const RESPONSE_MODES: Record<string, ResponseModeEncoder> = { query, jwt: queryJwt, 'query.jwt': queryJwt, fragment };
