import { OAuthError } from '../errors.js';

/**
 * A request object refused (RFC 9101 §6.2): `invalid_request_object`, 400. `reason` names the rule
 * for metrics and the audit log; the client sees the description.
 */
export class RequestObjectError extends OAuthError {
  constructor(
    readonly reason: string,
    description: string,
    /** For the operator's log only (e.g. why the client's jwks_uri could not be read). */
    readonly detail?: string,
  ) {
    super('invalid_request_object', description);
    this.audit = reason === 'replayed' ? 'request_object_replayed' : 'request_object_refused';
  }
}
