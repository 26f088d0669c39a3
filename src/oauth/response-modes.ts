import type { Client } from '../clients/client.js';
import type { GatewayContext } from '../context.js';

/**
 * Response modes as encoders of the authorization response (OAuth 2.0 Multiple Response Type
 * Encoding Practices). `query` now; `jwt` (JARM) and others plug in here.
 */
export type ResponseModeEncoder = (input: {
  ctx: GatewayContext;
  client: Client;
  redirectUri: string;
  params: Record<string, string>;
}) => Promise<string>;

const query: ResponseModeEncoder = async ({ redirectUri, params }) => {
  // Appended, not re-serialised: a query already in the registered URI is kept byte for byte.
  const separator = redirectUri.includes('?') ? (redirectUri.endsWith('?') || redirectUri.endsWith('&') ? '' : '&') : '?';
  return redirectUri + separator + new URLSearchParams(params).toString();
};

export const RESPONSE_MODES: Record<string, ResponseModeEncoder> = { query };
