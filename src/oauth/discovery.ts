import type { FastifyInstance } from 'fastify';
import { acrValuesReachable, userClaimNames } from '../login/advertised.js';
import { PATHS } from '../config/urls.js';
import type { GatewayContext } from '../context.js';
import { requestObjectMetadata } from './request-object/discovery-fields.js';
import { responseModesAdvertised, responseTypesAdvertised } from './response-types/response-type.js';
import { registrableScopes } from '../registration/setup.js';
import { grantManagementMetadata } from '../grants/management/client-grant-management.js';

/** Authorization server metadata (RFC 8414, OpenID Connect Discovery), computed once. */
export function discoveryDocument(ctx: GatewayContext): Record<string, unknown> {
  const { urls, profile, clients } = ctx;
  const authMethods = profile.clientAuthMethods;
  const authSigningAlgs = profile.algorithms.clientAssertion;
  const signingAlgs = profile.algorithms.signing.filter((alg) => ctx.keys.algorithms.includes(alg));
  const scopes = new Set(['openid']);
  for (const client of clients.all()) for (const s of client.scopes) scopes.add(s);
  // Registered clients may hold the registrable scopes (never what an anonymous caller registered).
  if (ctx.config.registration.enabled) for (const s of registrableScopes(ctx.config, clients)) scopes.add(s);
  const mtlsEndpoints = {
    token_endpoint: urls.token,
    pushed_authorization_request_endpoint: urls.par,
    userinfo_endpoint: urls.userinfo,
    introspection_endpoint: urls.introspection,
    revocation_endpoint: urls.revocation,
  };
  const plain = ctx.config.discovery.plainEndpoints === 'public' ? urls.withoutCertificate : urls;
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorization,
    // Plain fields: the mTLS listener, or (discovery.plainEndpoints: public) the public one for clients
    // without a certificate (DPoP with private_key_jwt); mTLS clients then use the aliases.
    token_endpoint: plain.token,
    pushed_authorization_request_endpoint: plain.par,
    userinfo_endpoint: plain.userinfo,
    introspection_endpoint: plain.introspection,
    revocation_endpoint: plain.revocation,
    jwks_uri: urls.jwks,
    require_pushed_authorization_requests: true,
    mtls_endpoint_aliases: mtlsEndpoints,
    response_types_supported: responseTypesAdvertised(profile),
    response_modes_supported: responseModesAdvertised(profile),
    grant_types_supported: profile.grantTypes,
    scopes_supported: [...scopes],
    subject_types_supported: profile.subjectTypes ?? ['public'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: authMethods,
    token_endpoint_auth_signing_alg_values_supported: authSigningAlgs,
    introspection_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: authSigningAlgs,
    revocation_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: authSigningAlgs,
    tls_client_certificate_bound_access_tokens: true,
    dpop_signing_alg_values_supported: ctx.dpop.rules.algorithms,
    authorization_response_iss_parameter_supported: true,
    id_token_signing_alg_values_supported: signingAlgs,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', ...userClaimNames(ctx)],
    claims_parameter_supported: true,
    request_parameter_supported: false,
    request_uri_parameter_supported: true,
    ...requestObjectMetadata(ctx),
    ...(acrValuesReachable(ctx).length ? { acr_values_supported: acrValuesReachable(ctx) } : {}),
    prompt_values_supported: ['none', 'login', 'consent'],
    ...responseProtectionFields(ctx),
    ...(ctx.config.registration.enabled ? { registration_endpoint: urls.registration } : {}),
    ...grantManagementMetadata(ctx),
    ...ctx.hooks.discoveryFields?.(),
  };
}

/**
 * JARM (JARM §5) and encrypted responses (OpenID Discovery §3), advertised only when the profile
 * offers them; signing algorithms only those the server holds an active key for.
 */
function responseProtectionFields(ctx: GatewayContext): Record<string, unknown> {
  const { algorithms } = ctx.profile;
  const responseModes = responseModesAdvertised(ctx.profile);
  const active = (algs: readonly string[]) => algs.filter((alg) => ctx.keys.algorithms.includes(alg));
  const fields: Record<string, unknown> = {};
  const encryption = algorithms.encryption;
  if (responseModes.some((mode) => mode.includes('jwt'))) {
    fields.authorization_signing_alg_values_supported = active(algorithms.authorizationResponse ?? algorithms.signing);
    if (encryption) {
      fields.authorization_encryption_alg_values_supported = encryption.alg;
      fields.authorization_encryption_enc_values_supported = encryption.enc;
    }
  }
  fields.userinfo_signing_alg_values_supported = active(algorithms.signing);
  if (encryption) {
    fields.id_token_encryption_alg_values_supported = encryption.alg;
    fields.id_token_encryption_enc_values_supported = encryption.enc;
    fields.userinfo_encryption_alg_values_supported = encryption.alg;
    fields.userinfo_encryption_enc_values_supported = encryption.enc;
  }
  return fields;
}

export function discoveryRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const body = JSON.stringify(discoveryDocument(ctx));
  for (const path of [PATHS.discovery, PATHS.oauthMetadata]) {
    app.get(path, (_request, reply) => reply.type('application/json').header('cache-control', 'public, max-age=300').send(body));
  }
}
