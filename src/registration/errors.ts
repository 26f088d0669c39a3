import type { ConfigError } from '../config/config-error.js';
import { OAuthError } from '../oauth/errors.js';

/** RFC 7591 §3.2.2 codes, and the bearer-token code RFC 7592 uses for a bad registration access token. */
export type RegistrationErrorCode =
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_software_statement'
  | 'unapproved_software_statement'
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_client';

/** A refused registration or management call; counted by reason and written to the audit log. */
export class RegistrationError extends OAuthError {
  constructor(
    readonly code: RegistrationErrorCode,
    description: string,
    status?: number,
    headers: Record<string, string> = {},
  ) {
    super(code, description, status ?? (code === 'invalid_token' || code === 'invalid_client' ? 401 : 400), headers);
    this.audit = 'registration_refused';
  }
}

/** A metadata problem found by the shared client check, as the RFC 7591 error it is. */
export function metadataError(err: ConfigError): RegistrationError {
  const path = err.keyPath.replace(/^metadata\.?/, '');
  const description = path ? `${path}: ${err.problem}` : err.problem;
  return new RegistrationError(path.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata', description);
}
