import type { SoftwareStatementMapping } from '../../hooks.js';
import { RegistrationError } from '../../../registration/errors.js';
import type { Standing } from '../register/statuses.js';

/** SSA claims every CDR software statement carries (CDS, Register "Get Software Statement Assertion"). */
const REQUIRED_STRINGS = ['software_id', 'org_id', 'jwks_uri', 'revocation_uri', 'recipient_base_uri'] as const;

/**
 * A CDR registration: the Register's statement (already verified: signature, issuer, age, exp) and the
 * recipient's request (its signature is verified next, against the statement's jwks_uri). The request
 * must be the software's own (iss = software_id); its redirect URIs within the statement's; scopes
 * are the statement's (those the holder does not offer are left out, not refused); a software product
 * the Register does not hold ACTIVE is not registered.
 */
export function mapCdrStatement(
  input: { claims: Record<string, unknown>; requested: Record<string, unknown> },
  standing: (softwareId: string, legalEntityId: string | undefined) => Standing,
): SoftwareStatementMapping {
  const { claims, requested } = input;
  for (const name of REQUIRED_STRINGS)
    if (typeof claims[name] !== 'string' || claims[name] === '') throw new RegistrationError('invalid_software_statement', `the software statement has no ${name}`);
  const ssaRedirects = claims.redirect_uris;
  if (!Array.isArray(ssaRedirects) || ssaRedirects.length === 0 || ssaRedirects.some((u) => typeof u !== 'string'))
    throw new RegistrationError('invalid_software_statement', 'the software statement has no redirect_uris');
  const softwareId = claims.software_id as string;
  if (requested.iss !== softwareId) throw new RegistrationError('invalid_client_metadata', 'the registration request must be issued by the software (iss = the statement\'s software_id)');

  let redirectUris = ssaRedirects as string[];
  if (requested.redirect_uris !== undefined) {
    if (!Array.isArray(requested.redirect_uris) || requested.redirect_uris.some((u) => typeof u !== 'string'))
      throw new RegistrationError('invalid_redirect_uri', 'redirect_uris must be an array of URLs');
    const outside = (requested.redirect_uris as string[]).filter((u) => !ssaRedirects.includes(u));
    if (outside.length) throw new RegistrationError('invalid_redirect_uri', `not in the software statement: ${outside.join(' ')}`);
    if (requested.redirect_uris.length > 0) redirectUris = requested.redirect_uris as string[];
  }

  const legalEntityId = typeof claims.legal_entity_id === 'string' ? claims.legal_entity_id : undefined;
  const now = standing(softwareId, legalEntityId);
  if (now !== 'ACTIVE') throw new RegistrationError('unapproved_software_statement', `the CDR Register holds this software product ${now}`);

  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return {
    allowedScopes: scopes,
    metadata: {
      redirect_uris: redirectUris,
      // Keys come from the statement's jwks_uri only; the request's scope gives way to the statement's.
      jwks: undefined,
      scope: undefined,
      software_id: softwareId,
      ...(legalEntityId !== undefined ? { legal_entity_id: legalEntityId } : {}),
    },
  };
}
