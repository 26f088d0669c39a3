import type { ConfigFile } from './schema.js';

/** Where each endpoint is reachable from outside. Endpoints that take client certificates live on the mTLS listener. */
export interface EndpointUrls {
  issuer: string;
  mtlsBase: string;
  authorization: string;
  jwks: string;
  par: string;
  token: string;
  userinfo: string;
  introspection: string;
  revocation: string;
  registration: string;
}

export const PATHS = {
  discovery: '/.well-known/openid-configuration',
  oauthMetadata: '/.well-known/oauth-authorization-server',
  jwks: '/jwks',
  authorization: '/authorize',
  par: '/par',
  token: '/token',
  userinfo: '/userinfo',
  introspection: '/introspect',
  revocation: '/revoke',
  registration: '/register',
} as const;

export function endpointUrls(config: ConfigFile): EndpointUrls {
  const { mtls } = config.listeners;
  const mtlsBase = (mtls.url ?? `https://${mtls.host.includes(':') ? `[${mtls.host}]` : mtls.host}:${mtls.port}`).replace(/\/$/, '');
  return {
    issuer: config.issuer,
    mtlsBase,
    authorization: config.issuer + PATHS.authorization,
    jwks: config.issuer + PATHS.jwks,
    par: mtlsBase + PATHS.par,
    token: mtlsBase + PATHS.token,
    userinfo: mtlsBase + PATHS.userinfo,
    introspection: mtlsBase + PATHS.introspection,
    revocation: mtlsBase + PATHS.revocation,
    registration: mtlsBase + PATHS.registration,
  };
}
