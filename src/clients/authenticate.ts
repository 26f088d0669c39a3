import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { errors as joseErrors, type JWTPayload } from 'jose';
import type { Profile } from '../config/schema.js';
import type { EndpointUrls } from '../config/urls.js';
import { OAuthError } from '../oauth/errors.js';
import type { SequenceStep, Store } from '../store/store.js';
import { sameDn, normalizeCertificateSubject } from '../tls/distinguished-name.js';
import { forwardedHeaderRefused, type PeerCertificateSource } from '../tls/forwarded-certificate.js';
import { PROBLEM_DESCRIPTIONS } from '../tls/client-certificate-rules.js';
import { usableCertificate, type PeerCertificate } from '../tls/peer-certificate.js';
import { x509 } from '../tls/x509.js';
import { decodeJwtClaims, verifyJwt } from '../keys/jwt-verify.js';
import type { Client } from './client.js';
import type { ClientRegistry } from './registry.js';
import { ClientKeysUnavailableError } from './remote-keys.js';
import { inSpan } from '../observability/tracing/spans.js';
import { logsInfo } from '../observability/logging.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface AuthenticatedClient {
  client: Client;
  /** This connection's client certificate, when one was presented (the key tokens get bound to). */
  certificate: PeerCertificate | undefined;
}

export interface ClientAuthDeps {
  clients: ClientRegistry;
  store: Store;
  profile: Profile;
  urls: EndpointUrls;
  peerCertificate: PeerCertificateSource;
}

/** Why authentication failed, for metrics and audit logs; the client sees only `invalid_client`. */
export class ClientAuthError extends OAuthError {
  constructor(
    readonly reason: string,
    description: string,
    readonly method?: string,
    /** For the operator's log only (e.g. why a jwks_uri fetch failed); never sent to the client. */
    readonly detail?: string,
  ) {
    super('invalid_client', description);
    this.audit = reason === 'replayed' ? 'assertion_replayed' : 'client_authentication_failed';
  }
}

/** Authenticates the client of a token-endpoint-style request (RFC 6749 §2.3, RFC 7523, RFC 8705). */
export async function authenticateClient(
  request: FastifyRequest,
  params: Record<string, string>,
  endpointUrl: string,
  deps: ClientAuthDeps,
): Promise<AuthenticatedClient> {
  const { checkReplay, ...caller } = await authenticateClientBeforeReplayCheck(request, params, endpointUrl, deps);
  await checkReplay();
  return caller;
}

export interface ReplayCheckPending extends AuthenticatedClient {
  /**
   * Records a client assertion's `jti` (a no-op for mutual TLS); rejects with `invalid_client` when it
   * was used before. The caller must await it before answering anything, errors included.
   */
  checkReplay(): Promise<void>;
  /**
   * The same check as a step of the caller's own `Store.sequence`, sent with the one-time writes it
   * decides (none for mutual TLS, which has nothing to record); `replayChecked` then takes the step's
   * outcome and throws as checkReplay would when the sequence stopped there.
   */
  replayStep?: SequenceStep;
  replayChecked(recorded: boolean): void;
}

/**
 * Authenticates the client and runs the endpoint's own checks (`prepare`), but leaves the assertion
 * replay check to the caller, to send in the same store round trip as its own store work (PAR, the
 * token endpoint). When `prepare` fails, the assertion is spent all the same, and a replay is refused
 * as such whatever else was wrong. Prefer `authenticateClient`.
 */
export async function authenticateClientAndPrepare<T>(
  request: FastifyRequest,
  params: Record<string, string>,
  endpointUrl: string,
  deps: ClientAuthDeps,
  prepare: (caller: AuthenticatedClient) => T | Promise<T>,
): Promise<ReplayCheckPending & { prepared: T }> {
  const caller = await authenticateClientBeforeReplayCheck(request, params, endpointUrl, deps);
  try {
    return { ...caller, prepared: await prepare(caller) };
  } catch (err) {
    await caller.checkReplay();
    throw err;
  }
}

/** Everything of `authenticateClient` but the assertion replay check, which the caller must run. */
function authenticateClientBeforeReplayCheck(
  request: FastifyRequest,
  params: Record<string, string>,
  endpointUrl: string,
  deps: ClientAuthDeps,
): Promise<ReplayCheckPending> {
  return inSpan('client authentication', async (span) => {
    const caller = await identifyClient(request, params, endpointUrl, deps);
    span?.setAttribute('oauth.client_id', caller.client.id);
    span?.setAttribute('oauth.client_auth_method', caller.client.authMethod);
    return caller;
  });
}

async function identifyClient(
  request: FastifyRequest,
  params: Record<string, string>,
  endpointUrl: string,
  deps: ClientAuthDeps,
): Promise<ReplayCheckPending> {
  if (request.headers.authorization !== undefined) {
    // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with a challenge for it.
    const refused = new ClientAuthError('unsupported_method', 'client secrets are not accepted; use private_key_jwt or mutual TLS');
    refused.headers['www-authenticate'] = `${request.headers.authorization.split(' ')[0] || 'Basic'} realm="fapi-gateway"`;
    throw refused;
  }
  if (params.client_secret !== undefined)
    throw new ClientAuthError('unsupported_method', 'client secrets are not accepted; use private_key_jwt or mutual TLS');
  const certificate = deps.peerCertificate(request.raw);
  if (params.client_assertion !== undefined || params.client_assertion_type !== undefined) {
    const { client, checkReplay, replayStep, replayed } = await authenticateByAssertion(params, endpointUrl, deps);
    request.clientId = client.id;
    // The certificate is only what tokens get bound to here; one that could not authenticate a
    // client (expired, a CA's, not for client authentication) counts as none.
    // Authenticated only once the assertion is known to be fresh: the audit event waits for that.
    const checkFresh = async () => {
      await checkReplay();
      auditAuthenticated(request, client);
    };
    const replayChecked = (recorded: boolean) => {
      if (!recorded) throw replayed();
      auditAuthenticated(request, client);
    };
    return { client, certificate: usableCertificate(certificate), checkReplay: checkFresh, replayStep, replayChecked };
  }
  const clientId = params.client_id;
  if (clientId === undefined) throw new ClientAuthError('no_credentials', 'no client authentication');
  const client = await deps.clients.get(clientId);
  if (!client) throw new ClientAuthError('unknown_client', 'client authentication failed');
  if (client.authMethod === 'private_key_jwt')
    throw new ClientAuthError('method_mismatch', 'this client authenticates with private_key_jwt', client.authMethod);
  if (!certificate) {
    if (forwardedHeaderRefused(request.raw))
      throw new ClientAuthError('forwarded_certificate_refused', "the proxy's client certificate header is ambiguous or malformed", client.authMethod);
    throw new ClientAuthError('no_certificate', 'a client certificate is required', client.authMethod);
  }
  // Both mutual-TLS methods, whichever path the certificate came by (handshake or proxy header).
  const problem = certificate.problem();
  if (problem) throw new ClientAuthError(problem, PROBLEM_DESCRIPTIONS[problem], client.authMethod);
  if (client.authMethod === 'tls_client_auth') checkPkiCertificate(client, certificate);
  else if (!client.certificateThumbprints.has(certificate.thumbprint))
    throw new ClientAuthError('certificate_mismatch', 'the client certificate is not registered for this client', client.authMethod);
  request.clientId = client.id;
  auditAuthenticated(request, client);
  return { client, certificate, checkReplay: noReplayCheck, replayChecked: noStep };
}

function auditAuthenticated(request: FastifyRequest, client: Client): void {
  // An info line: not gathered (the route's options are built on every read) when it is not written.
  if (!logsInfo(request.log)) return;
  request.log.info({ audit: 'client_authenticated', client_id: client.id, method: client.authMethod, route: request.routeOptions.url }, 'client_authenticated');
}

const noReplayCheck = (): Promise<void> => Promise.resolve();
const noStep = (): void => undefined;

async function authenticateByAssertion(
  params: Record<string, string>,
  endpointUrl: string,
  deps: ClientAuthDeps,
): Promise<{ client: Client; checkReplay: () => Promise<void>; replayStep: SequenceStep; replayed: () => ClientAuthError }> {
  const method = 'private_key_jwt';
  if (params.client_assertion_type !== JWT_BEARER_ASSERTION)
    throw new ClientAuthError('bad_assertion_type', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`, method);
  const assertion = params.client_assertion;
  if (!assertion) throw new ClientAuthError('no_assertion', 'client_assertion is missing', method);

  let unverified: JWTPayload;
  try {
    unverified = decodeJwtClaims(assertion);
  } catch {
    throw new ClientAuthError('malformed_assertion', 'client_assertion is not a JWT', method);
  }
  const clientId = typeof unverified.iss === 'string' ? unverified.iss : undefined;
  if (clientId === undefined) throw new ClientAuthError('bad_claims', 'client_assertion has no iss', method);
  if (params.client_id !== undefined && params.client_id !== clientId)
    throw new ClientAuthError('client_id_mismatch', 'client_id does not match the assertion issuer', method);
  const client = await deps.clients.get(clientId);
  if (!client || client.authMethod !== method || !client.jwtKeys)
    throw new ClientAuthError('unknown_client', 'client authentication failed', method);

  const rules = client.rules.clientAssertion;
  let payload: JWTPayload;
  try {
    ({ payload } = await verifyJwt(assertion, client.jwtKeys, {
      algorithms: client.assertionAlgorithms,
      clockTolerance: rules.futureToleranceSeconds,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
    }));
  } catch (err) {
    throw new ClientAuthError(assertionFailure(err), describeAssertionFailure(err), method, err instanceof ClientKeysUnavailableError ? err.message : undefined);
  }

  if (payload.sub !== clientId) throw new ClientAuthError('bad_claims', 'client_assertion sub must equal iss', method);
  const atPar = endpointUrl === deps.urls.par || endpointUrl === deps.urls.withoutCertificate.par;
  const accepted = acceptedAudiences((atPar && rules.parAudience) || rules.audience, deps.urls, endpointUrl);
  const audienceOk =
    typeof payload.aud === 'string' ? accepted.includes(payload.aud) : rules.audienceArray === true && Array.isArray(payload.aud) && payload.aud.some((aud) => accepted.includes(aud));
  if (!audienceOk)
    throw new ClientAuthError('bad_audience', 'client_assertion aud must be the issuer identifier', method);
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat !== undefined) {
    if (typeof payload.iat !== 'number') throw new ClientAuthError('bad_claims', 'client_assertion iat is not a number', method);
    if (payload.iat > now + rules.futureToleranceSeconds) throw new ClientAuthError('issued_in_future', 'client_assertion iat is in the future', method);
    if (now - payload.iat > rules.maxAgeSeconds) throw new ClientAuthError('too_old', 'client_assertion is too old', method);
  } else if ((payload.exp as number) - now > rules.maxAgeSeconds) {
    throw new ClientAuthError('too_long_lived', 'client_assertion without iat must expire sooner', method);
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 512)
    throw new ClientAuthError('bad_claims', 'client_assertion jti is invalid', method);

  // The replay cache keeps a jti for as long as its assertion could still be accepted: until its exp
  // (accepted up to the tolerance late) and no longer than max age after iat. Both are at most
  // maxAge + 2 × tolerance away, as checked above.
  const acceptedUntil = Math.min(payload.exp as number, payload.iat !== undefined ? payload.iat + rules.maxAgeSeconds : Infinity);
  const lifetime = Math.max(1, Math.min(acceptedUntil + rules.futureToleranceSeconds - now, rules.maxAgeSeconds + 2 * rules.futureToleranceSeconds));
  const jti = payload.jti;
  const replayStep = { set: 'jti', id: `${clientId}\u0000${jti}`, value: 1, ttlSeconds: lifetime, ifAbsent: true } as const;
  const replayed = () => new ClientAuthError('replayed', 'client_assertion has been used before', method);
  const checkReplay = async () => {
    if (!(await deps.store.setIfAbsent(replayStep.set, replayStep.id, replayStep.value, replayStep.ttlSeconds))) throw replayed();
  };
  return { client, checkReplay, replayStep, replayed };
}

function acceptedAudiences(forms: Profile['clientAssertion']['audience'], urls: EndpointUrls, endpointUrl: string): string[] {
  // The token endpoint has two URLs (mTLS alias and plain); an assertion may name either.
  return forms.flatMap((form) => (form === 'issuer' ? [urls.issuer] : form === 'token_endpoint' ? [urls.token, urls.withoutCertificate.token] : [endpointUrl]));
}

function assertionFailure(err: unknown): string {
  if (err instanceof ClientKeysUnavailableError) return 'jwks_unavailable';
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return err.claim === 'nbf' ? 'not_yet_valid' : 'bad_claims';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'alg_not_allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'no_key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  return 'malformed_assertion';
}

function describeAssertionFailure(err: unknown): string {
  if (err instanceof ClientKeysUnavailableError) return "the client's keys could not be fetched from its jwks_uri";
  if (err instanceof joseErrors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return err.reason === 'missing' ? `client_assertion lacks the ${err.claim} claim` : `client_assertion ${err.claim} is not acceptable`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'client_assertion signing algorithm is not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no registered key matches client_assertion';
  return 'client_assertion signature is invalid';
}

/** tls_client_auth: the certificate is issued by a trusted CA and carries the registered subject or name. */
export function checkPkiCertificate(client: Client, certificate: PeerCertificate): void {
  const method = client.authMethod;
  if (!certificate.chainVerified)
    throw new ClientAuthError('untrusted_certificate', 'the client certificate is not issued by a trusted CA', method);
  let cert: x509.X509Certificate;
  try {
    cert = certificate.parsed();
  } catch {
    throw new ClientAuthError('unparseable_certificate', 'the client certificate cannot be read', method);
  }
  if (client.subjectDn) {
    if (!sameDn(client.subjectDn, normalizeCertificateSubject(cert)))
      throw new ClientAuthError('subject_mismatch', 'the client certificate subject does not match the registration', method);
    return;
  }
  const expected = client.subjectAltName!;
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  const wanted = expected.type === 'uri' ? 'url' : expected.type;
  if (!names.some((n) => n.type === wanted && sameSanValue(expected.type, n.value, expected.value)))
    throw new ClientAuthError('san_mismatch', 'the client certificate subject alternative name does not match the registration', method);
}

function sameSanValue(type: string, presented: string, registered: string): boolean {
  // DNS names and e-mail addresses compare case-insensitively, IP addresses in canonical form, URIs exactly.
  if (type === 'dns' || type === 'email') return presented.toLowerCase() === registered.toLowerCase();
  if (type === 'ip') return canonicalIp(presented) === canonicalIp(registered);
  return presented === registered;
}

function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return undefined;
  // The URL parser writes IPv6 addresses in their canonical (RFC 5952) form.
  return new URL(`http://[${ip}]/`).hostname;
}
