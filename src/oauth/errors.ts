/** An OAuth 2.0 error (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9126 §2.3) carried to the HTTP layer. */
export class OAuthError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** A named security event to write to the audit log when this error is answered (e.g. code_reuse). */
  audit: string | undefined;
  constructor(
    readonly error: string,
    readonly description: string,
    status?: number,
    headers: Record<string, string> = {},
  ) {
    super(`${error}: ${description}`);
    this.status = status ?? defaultStatus(error);
    this.headers = headers;
  }

  toJSON(): Record<string, string> {
    return { error: this.error, error_description: this.description };
  }
}

function defaultStatus(error: string): number {
  switch (error) {
    case 'invalid_client':
    case 'invalid_token':
      return 401;
    case 'insufficient_scope':
    case 'access_denied':
      return 403;
    case 'server_error':
      return 500;
    case 'temporarily_unavailable':
      return 503;
    default:
      return 400;
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
