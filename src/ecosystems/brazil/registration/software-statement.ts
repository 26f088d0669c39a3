import type { SoftwareStatementMapping } from '../../hooks.js';
import { RegistrationError } from '../../../registration/errors.js';
import type { PeerCertificate } from '../../../tls/peer-certificate.js';
import { certificateIdentity } from './certificate-identity.js';
import { activeRoles, scopesOfRoles } from './roles.js';

const string = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * An Open Finance Brasil software statement, already verified (the Directory's PS256 signature, at
 * most 5 minutes old), checked against the request and the client certificate, and mapped: the
 * client's keys are the software's (`software_jwks_uri`), its redirect URIs a subset of the
 * statement's, its scopes those of its active roles.
 */
export function checkSoftwareStatement(input: {
  claims: Record<string, unknown>;
  metadata: Record<string, unknown>;
  certificate: PeerCertificate;
}): SoftwareStatementMapping {
  const { claims, metadata, certificate } = input;
  const { software_id: softwareId, org_id: orgId, software_jwks_uri: jwksUri, software_redirect_uris: redirectUris } = claims;
  if (!string(softwareId) || !string(orgId) || !string(jwksUri) || !Array.isArray(redirectUris) || !redirectUris.every(string))
    throw new RegistrationError('invalid_software_statement', 'software_statement lacks software_id, org_id, software_jwks_uri or software_redirect_uris');
  if (claims.org_status !== 'Active') throw new RegistrationError('unapproved_software_statement', "the software statement's organisation is not Active in the Directory");

  // The certificate registering the software must be that software's, of that organisation, and
  // issued by a trusted CA (ICP-Brasil): anyone can write those ids into a certificate of their own.
  if (!certificate.chainVerified) throw new RegistrationError('invalid_client', 'the client certificate is not issued by a trusted CA');
  let identity;
  try {
    identity = certificateIdentity(certificate.parsed());
  } catch {
    throw new RegistrationError('invalid_client_metadata', 'the client certificate cannot be read');
  }
  if (identity.softwareId !== softwareId)
    throw new RegistrationError('invalid_software_statement', "the client certificate's UID is not the statement's software_id");
  if (identity.organisationId !== orgId)
    throw new RegistrationError('invalid_software_statement', "the client certificate's organizationIdentifier (OFBBR-<org_id>) is not the statement's org_id");

  if (metadata.jwks !== undefined) throw new RegistrationError('invalid_client_metadata', "jwks by value is not accepted: the software's keys are at its software_jwks_uri");
  if (metadata.jwks_uri !== undefined && metadata.jwks_uri !== jwksUri)
    throw new RegistrationError('invalid_client_metadata', "jwks_uri must be the software statement's software_jwks_uri");
  if (Array.isArray(metadata.redirect_uris)) {
    const unknown = metadata.redirect_uris.filter((uri) => !redirectUris.includes(uri));
    if (unknown.length) throw new RegistrationError('invalid_redirect_uri', `redirect_uris not in the software statement: ${unknown.join(' ')}`);
  }

  const scopes = scopesOfRoles(activeRoles(claims));
  if (scopes.length === 0) throw new RegistrationError('unapproved_software_statement', 'the software statement has no active regulatory role');
  return {
    allowedScopes: scopes,
    metadata: {
      jwks_uri: jwksUri,
      software_id: softwareId,
      ...(metadata.client_name === undefined && string(claims.software_client_name) ? { client_name: claims.software_client_name } : {}),
    },
  };
}
