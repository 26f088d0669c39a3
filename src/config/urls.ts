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
  /**
   * The same back-channel endpoints on the public listener, for clients that need no certificate
   * (DPoP-bound tokens, private_key_jwt): discovery's plain fields, while `mtls_endpoint_aliases` name
   * the ones above (RFC 8705 §5).
   */
  withoutCertificate: { par: string; token: string; userinfo: string; introspection: string; revocation: string };
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
    withoutCertificate: {
      par: config.issuer + PATHS.par,
      token: config.issuer + PATHS.token,
      userinfo: config.issuer + PATHS.userinfo,
      introspection: config.issuer + PATHS.introspection,
      revocation: config.issuer + PATHS.revocation,
    },
  };
}
