import { randomBytes } from 'node:crypto';
import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { checkPkiCertificate } from '../clients/authenticate.js';
import { validateClientMetadata, type ClientValidationOptions } from '../clients/client-metadata.js';
import type { Client } from '../clients/client.js';
import type { ClientRegistry } from '../clients/registry.js';
import { REGISTERED_CLIENT_TTL_SECONDS, type RegisteredClientRecord, type RegisteredClients } from '../clients/registered-clients.js';
import { ConfigError } from '../config/config-error.js';
import { ClientSchema, type ClientMetadata, type Profile, type RegistrationSettings } from '../config/schema.js';
import type { EcosystemHooks } from '../ecosystems/hooks.js';
import { OAuthError } from '../oauth/errors.js';
import type { Store } from '../store/store.js';
import type { PeerCertificate } from '../tls/peer-certificate.js';
import { constantTimeEqual, randomToken, storageKey } from '../tokens/secrets.js';
import type { TrustedDirectories } from './directories.js';
import { metadataError, RegistrationError } from './errors.js';

/** The metadata names the gateway understands; anything else a registration sends is ignored (RFC 7591 §2). */
const KNOWN_METADATA = new Set(Object.keys(ClientSchema.properties));
/** Claims of a statement's JWT envelope, not client metadata. */
const ENVELOPE_CLAIMS = new Set(['iss', 'sub', 'aud', 'iat', 'exp', 'nbf', 'jti']);

export interface RegistrationDeps {
  settings: RegistrationSettings;
  profile: Profile;
  hooks: EcosystemHooks;
  store: Store;
  clients: ClientRegistry;
  registered: RegisteredClients;
  directories: TrustedDirectories;
  /** What a registered client's keys are checked and later fetched with (the guarded fetcher). */
  validation: Required<ClientValidationOptions>;
  /** Scopes a registered client may hold at most. */
  registrableScopes: ReadonlySet<string>;
  issuer: string;
  /** false: updates keep the registration access token (RFC 7592 §2.2 leaves rotation to the server). */
  rotateAccessToken: boolean;
  /** true: a software statement registers one client; registering again needs a new statement. */
  singleUseStatements: boolean;
  /** registration_client_uri for a client id. */
  clientUri: (clientId: string) => string;
}

/** A registration request as it arrived: the metadata (JSON) or a JWT the client signed, and the caller's credentials. */
export interface RegistrationInput {
  body: unknown;
  format: 'json' | 'jwt';
  certificate: PeerCertificate;
  /** The bearer token of the request, if any (an initial access token on create). */
  bearer?: string;
}

export interface Registered {
  record: RegisteredClientRecord;
  /** The new registration access token: given once, stored only as a hash. None when an update keeps the old one. */
  accessToken?: string;
}

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), apart from HTTP: what is
 * accepted, what is stored, what a management call must show. Metadata goes through the same check
 * as the config file's clients.
 */
export class ClientRegistrations {
  readonly #initialTokenHashes: string[];

  constructor(private readonly deps: RegistrationDeps) {
    this.#initialTokenHashes = deps.settings.initialAccessTokenSha256.map((hex) => Buffer.from(hex, 'hex').toString('base64url'));
  }

  /** Updates keep the registration access token: management answers then repeat it (RFC 7592 §3), as clients expect one there. */
  get keepsAccessToken(): boolean {
    return !this.deps.rotateAccessToken;
  }

  async create(input: RegistrationInput): Promise<Registered> {
    const clientId = randomBytes(16).toString('base64url');
    const prepared = await this.#prepare(input, clientId, true);
    const { store, hooks, settings } = this.deps;
    const added = await store.addMember('registered-clients', clientId, settings.maxClients);
    if (added === 'full') throw new OAuthError('temporarily_unavailable', 'no more clients can be registered', 503, { 'retry-after': '3600' });
    try {
      const statement = prepared.record.registration.softwareStatement;
      if (statement !== undefined && this.deps.singleUseStatements) {
        // Kept while the statement could still be accepted (its age limit and the clock tolerance).
        const fresh = (this.deps.profile.registration?.softwareStatementMaxAgeSeconds ?? 300) + 60;
        if (!(await store.setIfAbsent('statement-used', storageKey(statement), clientId, fresh)))
          throw new RegistrationError('invalid_software_statement', 'this software_statement has registered a client already; use a new one');
      }
      const softwareId = prepared.record.registration.softwareId;
      if (softwareId !== undefined && hooks.oneRegistrationPerSoftwareId?.(softwareId)) {
        const first = await store.setIfAbsent('client-software', softwareId, clientId, REGISTERED_CLIENT_TTL_SECONDS);
        if (!first) throw new RegistrationError('invalid_client_metadata', `software_id "${softwareId}" is registered already; update or delete that registration`);
      }
      await store.set('client', clientId, prepared.record, REGISTERED_CLIENT_TTL_SECONDS);
    } catch (err) {
      await store.removeMember('registered-clients', clientId).catch(() => undefined);
      throw err;
    }
    await this.deps.registered.announce(clientId);
    return prepared;
  }

  /** The record of a registered client, when the caller holds its registration access token over its certificate (RFC 7592 §2). */
  async authorize(clientId: string, bearer: string | undefined, certificate: PeerCertificate | undefined): Promise<RegisteredClientRecord> {
    const refused = (description: string) =>
      new RegistrationError('invalid_token', description, 401, { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` });
    if (bearer === undefined) throw new RegistrationError('invalid_token', 'a registration access token is required', 401, { 'www-authenticate': 'Bearer' });
    const record = this.deps.clients.isConfigured(clientId) ? undefined : await this.deps.store.get<RegisteredClientRecord>('client', clientId);
    // Compared even when there is no record, so that the answer takes as long either way.
    const expected = record?.registration.accessTokenHash ?? 'x'.repeat(43);
    const tokenMatches = constantTimeEqual(storageKey(bearer), expected);
    if (!record || !tokenMatches) throw refused('the registration access token is invalid');
    if (!certificate || !(await this.#belongsToClient(record, certificate))) {
      const err = refused('the registration access token is bound to another client certificate');
      err.audit = 'certificate_mismatch';
      throw err;
    }
    return record;
  }

  /** The record of a registered client for a management call the ecosystem pack has authorized; 401 when there is none. */
  async managed(clientId: string): Promise<RegisteredClientRecord> {
    const record = this.deps.clients.isConfigured(clientId) ? undefined : await this.deps.store.get<RegisteredClientRecord>('client', clientId);
    if (!record) throw new RegistrationError('invalid_token', 'no registration is managed with this token', 401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    return record;
  }

  /** RFC 7592 §2.2: full replacement, checked again; a new registration access token replaces the old one. */
  async update(record: RegisteredClientRecord, input: RegistrationInput): Promise<Registered> {
    const clientId = record.metadata.client_id;
    const body = input.body as Record<string, unknown> | undefined;
    const sent = input.format === 'json' ? body?.client_id : undefined;
    if (sent !== undefined && sent !== clientId) throw new RegistrationError('invalid_request', 'client_id does not match the registration');
    const prepared = await this.#prepare(input, clientId, false);
    const before = record.registration.softwareId;
    if (before !== prepared.record.registration.softwareId && before !== undefined && this.deps.hooks.oneRegistrationPerSoftwareId?.(before))
      throw new RegistrationError('invalid_client_metadata', 'software_id cannot change');
    prepared.record.registration.issuedAt = record.registration.issuedAt;
    // Without rotation the token stays (the response then carries none); it is bound to the update's certificate.
    if (!this.deps.rotateAccessToken) prepared.record.registration.accessTokenHash = record.registration.accessTokenHash;
    await this.deps.store.set('client', clientId, prepared.record, REGISTERED_CLIENT_TTL_SECONDS);
    await this.deps.registered.announce(clientId);
    return this.deps.rotateAccessToken ? prepared : { record: prepared.record };
  }

  /**
   * Deletes a registered client: its access tokens are refused at once (a marker the token check reads
   * in the same round trip, kept as long as they may live), its refresh tokens with it (their client
   * no longer authenticates), and every replica drops it from its cache.
   */
  async remove(clientId: string): Promise<RegisteredClientRecord | undefined> {
    const { store } = this.deps;
    const record = await store.get<RegisteredClientRecord>('client', clientId);
    if (!record) return undefined;
    await store.set('client-ended', clientId, 1, this.deps.profile.lifetimes.accessToken);
    await store.delete('client', clientId);
    await store.removeMember('registered-clients', clientId);
    const softwareId = record.registration.softwareId;
    if (softwareId !== undefined && (await store.get<string>('client-software', softwareId)) === clientId) await store.delete('client-software', softwareId);
    await this.deps.registered.announce(clientId);
    return record;
  }

  /** Stores a client an operator added (CLI): checked as a registration's metadata is, without credentials for RFC 7592. */
  async addByOperator(input: unknown): Promise<RegisteredClientRecord> {
    const metadata = input as Record<string, unknown>;
    const clientId = typeof metadata?.client_id === 'string' && metadata.client_id ? metadata.client_id : randomBytes(16).toString('base64url');
    if (this.deps.clients.isConfigured(clientId)) throw new ConfigError('client_id', `"${clientId}" is a client of the config file`);
    const client = await validateClientMetadata({ ...metadata, client_id: clientId }, this.deps.profile, 'client', this.deps.validation);
    const now = Math.floor(Date.now() / 1000);
    const record: RegisteredClientRecord = {
      metadata: client.metadata as ClientMetadata,
      registration: { accessTokenHash: '', certificateThumbprint: '', softwareId: client.metadata.software_id, issuedAt: now, updatedAt: now, source: 'cli' },
    };
    const added = await this.deps.store.addMember('registered-clients', clientId, this.deps.settings.maxClients);
    if (added === 'full') throw new ConfigError('registration.maxClients', `${this.deps.settings.maxClients} clients are registered already`);
    await this.deps.store.set('client', clientId, record, REGISTERED_CLIENT_TTL_SECONDS);
    await this.deps.registered.announce(clientId);
    return record;
  }

  /** The registration response (RFC 7591 §3.2.1, RFC 7592 §3): the metadata as registered, and how to manage it. */
  response(record: RegisteredClientRecord, accessToken?: string): Record<string, unknown> {
    const { metadata, registration } = record;
    return {
      ...metadata,
      client_id: metadata.client_id,
      client_id_issued_at: registration.issuedAt,
      ...(registration.softwareStatement ? { software_statement: registration.softwareStatement } : {}),
      registration_client_uri: this.deps.clientUri(metadata.client_id),
      // A pack that decides who manages registrations issues no registration access token.
      ...(accessToken && !this.deps.hooks.authorizeRegistrationManagement ? { registration_access_token: accessToken } : {}),
      ...this.deps.hooks.registrationResponseFields?.(record),
    };
  }

  async #prepare(input: RegistrationInput, clientId: string, creating: boolean): Promise<Registered> {
    const { profile, directories, hooks } = this.deps;
    const formats = profile.registration?.requestFormats ?? ['json'];
    if (!formats.includes(input.format)) throw new RegistrationError('invalid_request', `registration requests must be ${formats.join(' or ')}`);
    const requested = this.#requestedMetadata(input);

    // Who vouches for this client: a trusted directory's statement, or (on create) an initial access token.
    const statement = requested.software_statement;
    if (statement !== undefined && typeof statement !== 'string') throw new RegistrationError('invalid_software_statement', 'software_statement must be a JWT');
    const initialTokenValid = creating && input.bearer !== undefined && this.#initialTokenValid(input.bearer);
    if (creating && input.bearer !== undefined && !initialTokenValid)
      throw new RegistrationError('invalid_token', 'the initial access token is invalid', 401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    if (statement === undefined && directories.size > 0 && !initialTokenValid)
      throw new RegistrationError('invalid_software_statement', 'a software_statement from a trusted directory is required');
    if (statement === undefined && directories.size === 0 && creating && !initialTokenValid)
      throw new RegistrationError('invalid_token', 'an initial access token is required', 401, { 'www-authenticate': 'Bearer' });
    if (statement !== undefined && directories.size === 0) throw new RegistrationError('unapproved_software_statement', 'no software statement issuer is trusted here');
    const verified = statement === undefined ? undefined : await directories.verify(statement, profile.registration?.softwareStatementMaxAgeSeconds ?? 300, profile.algorithms.signing);

    // The statement's claims win over the request's (RFC 7591 §2.3), then what the ecosystem maps.
    const metadata: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(requested)) if (KNOWN_METADATA.has(name)) metadata[name] = value;
    let allowedScopes: string[] | undefined;
    if (verified) {
      for (const [name, value] of Object.entries(verified.claims)) if (KNOWN_METADATA.has(name) && !ENVELOPE_CLAIMS.has(name) && name !== 'scope') metadata[name] = value;
      if (typeof verified.claims.scope === 'string') allowedScopes = verified.claims.scope.split(' ').filter(Boolean);
      const mapped = await hooks.softwareStatement?.({ claims: verified.claims, directory: verified.directory, metadata, requested, certificate: input.certificate });
      if (mapped?.metadata) Object.assign(metadata, mapped.metadata);
      if (mapped?.allowedScopes) allowedScopes = mapped.allowedScopes;
    }
    // A client's pairwise sector decides which customers' subjects it can correlate with other
    // clients': it is never the client's own word (the sector_identifier_uri is not fetched here),
    // only a trusted directory's.
    if (metadata.sector_identifier_uri !== undefined && metadata.sector_identifier_uri !== verified?.claims.sector_identifier_uri)
      throw new RegistrationError('invalid_client_metadata', 'sector_identifier_uri is accepted only inside a trusted software statement');
    metadata.scope = this.#scope(metadata.scope, allowedScopes);
    metadata.client_id = clientId;

    let client: Client;
    try {
      client = await validateClientMetadata(metadata, profile, 'metadata', this.deps.validation);
    } catch (err) {
      if (err instanceof ConfigError) throw metadataError(err);
      throw err;
    }
    if (input.format === 'jwt') await this.#verifySignedRequest(input.body as string, client);
    this.#checkCertificate(client, input.certificate);

    const now = Math.floor(Date.now() / 1000);
    const softwareId = typeof verified?.claims.software_id === 'string' ? verified.claims.software_id : client.metadata.software_id;
    const accessToken = randomToken();
    const record: RegisteredClientRecord = {
      metadata: client.metadata as ClientMetadata,
      registration: {
        accessTokenHash: storageKey(accessToken),
        certificateThumbprint: input.certificate.thumbprint,
        ...(statement !== undefined ? { softwareStatement: statement } : {}),
        ...(verified ? { directory: verified.directory } : {}),
        ...(softwareId !== undefined ? { softwareId } : {}),
        issuedAt: now,
        updatedAt: now,
        source: 'registration',
      },
    };
    return { record, accessToken };
  }

  #requestedMetadata(input: RegistrationInput): Record<string, unknown> {
    if (input.format === 'json') {
      if (typeof input.body !== 'object' || input.body === null || Array.isArray(input.body))
        throw new RegistrationError('invalid_client_metadata', 'the registration request must be a JSON object');
      return input.body as Record<string, unknown>;
    }
    try {
      return decodeJwt(input.body as string) as Record<string, unknown>;
    } catch {
      throw new RegistrationError('invalid_client_metadata', 'the registration request is not a JWT');
    }
  }

  /** A signed registration request: by a key of the client's own (as registered), for this issuer, recent. */
  async #verifySignedRequest(jwt: string, client: Client): Promise<void> {
    if (!client.jwtKeys) throw new RegistrationError('invalid_client_metadata', 'a signed registration request needs jwks or jwks_uri');
    const rules = this.deps.profile.clientAssertion;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, client.jwtKeys, {
        algorithms: client.assertionAlgorithms,
        audience: this.deps.issuer,
        maxTokenAge: rules.maxAgeSeconds,
        clockTolerance: rules.futureToleranceSeconds,
        requiredClaims: ['iat', 'exp'],
      }));
    } catch (err) {
      throw new RegistrationError('invalid_client_metadata', `the registration request's signature or claims are not valid: ${(err as Error).message}`);
    }
    if ((payload.exp as number) - (payload.iat as number) > rules.maxAgeSeconds)
      throw new RegistrationError('invalid_client_metadata', 'the registration request lives too long');
  }

  /** Requested scopes within what the statement allows and the gateway offers; all of those when none are requested. */
  #scope(requested: unknown, allowedByStatement: string[] | undefined): string {
    const registrable = this.deps.registrableScopes;
    const allowed = (allowedByStatement ?? [...registrable]).filter((s) => registrable.has(s));
    if (requested === undefined) return allowed.join(' ');
    if (typeof requested !== 'string') throw new RegistrationError('invalid_client_metadata', 'scope must be a string');
    const scopes = [...new Set(requested.split(' ').filter(Boolean))];
    const extra = scopes.filter((s) => !allowed.includes(s));
    if (extra.length) throw new RegistrationError('invalid_client_metadata', `scope "${extra.join(' ')}" is not allowed for this client`);
    return scopes.join(' ');
  }

  /** The certificate registering the client must be one the client will authenticate with. */
  #checkCertificate(client: Client, certificate: PeerCertificate): void {
    if (client.authMethod === 'tls_client_auth') {
      try {
        checkPkiCertificate(client, certificate);
      } catch (err) {
        throw new RegistrationError('invalid_client_metadata', `the presented client certificate does not match the registration: ${(err as OAuthError).description}`);
      }
    } else if (client.authMethod === 'self_signed_tls_client_auth' && !client.certificateThumbprints.has(certificate.thumbprint)) {
      throw new RegistrationError('invalid_client_metadata', 'the presented client certificate is not in the registered jwks');
    }
  }

  async #belongsToClient(record: RegisteredClientRecord, certificate: PeerCertificate): Promise<boolean> {
    if (constantTimeEqual(certificate.thumbprint, record.registration.certificateThumbprint)) return true;
    // A tls_client_auth client may have renewed its certificate: the same registered subject, from a trusted CA.
    const client = await this.deps.registered.get(record.metadata.client_id);
    if (client?.authMethod !== 'tls_client_auth') return false;
    try {
      checkPkiCertificate(client, certificate);
      return true;
    } catch {
      return false;
    }
  }

  #initialTokenValid(token: string): boolean {
    const hash = storageKey(token);
    let valid = false;
    for (const expected of this.#initialTokenHashes) valid = constantTimeEqual(hash, expected) || valid;
    return valid;
  }
}
