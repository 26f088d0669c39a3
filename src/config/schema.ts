import { Type, type Static } from '@sinclair/typebox';

const Seconds = Type.Integer({ minimum: 0 });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const NonEmpty = Type.String({ minLength: 1 });

export const SigningAlgorithm = Type.Union([Type.Literal('PS256'), Type.Literal('ES256'), Type.Literal('EdDSA')]);
/** Key management (JWE `alg`) and content encryption (`enc`) for responses encrypted to a client; never RSA1_5. */
export const KeyEncryptionAlgorithm = Type.Union([Type.Literal('RSA-OAEP-256'), Type.Literal('RSA-OAEP'), Type.Literal('ECDH-ES')]);
export const ContentEncryptionAlgorithm = Type.Union([Type.Literal('A256GCM'), Type.Literal('A128GCM')]);
/**
 * Authorization response modes: plain `query`, or JARM (`jwt` is `query.jwt` for response_type=code);
 * `fragment` for the hybrid `code id_token` (its default, OAuth 2.0 Multiple Response Types §5).
 */
export const ResponseMode = Type.Union([Type.Literal('query'), Type.Literal('jwt'), Type.Literal('query.jwt'), Type.Literal('fragment')]);
/** Authorization response types: `code`, and the hybrid `code id_token` (FAPI 1.0 Advanced §5.2.2-2). */
export const ResponseType = Type.Union([Type.Literal('code'), Type.Literal('code id_token')]);
export const ClientAuthMethod = Type.Union([
  Type.Literal('private_key_jwt'),
  Type.Literal('tls_client_auth'),
  Type.Literal('self_signed_tls_client_auth'),
]);
export const GrantType = Type.Union([
  Type.Literal('authorization_code'),
  Type.Literal('refresh_token'),
  Type.Literal('client_credentials'),
]);

/** FAPI 2.0 §5.2.1's TLS 1.2 cipher suites (OpenSSL names). */
export const Tls12CipherSuite = Type.Union(
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'].map((s) => Type.Literal(s)),
);

const RequestObjectMode = Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('none')]);

const ClientAssertionRules = Type.Object(
  {
    audience: Type.Array(
      Type.Union([Type.Literal('issuer'), Type.Literal('token_endpoint'), Type.Literal('endpoint')]),
      { minItems: 1, uniqueItems: true },
    ),
    /**
     * The forms accepted at the PAR endpoint, where FAPI 2.0 (and its conformance suite) wants the
     * issuer alone; `audience` when absent. Must be within `audience`.
     */
    parAudience: Type.Optional(
      Type.Array(Type.Union([Type.Literal('issuer'), Type.Literal('token_endpoint'), Type.Literal('endpoint')]), { minItems: 1, uniqueItems: true }),
    ),
    maxAgeSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    futureToleranceSeconds: Type.Integer({ minimum: 0, maximum: 60 }),
    /**
     * RFC 7523 §3 (FAPI 1.0): `aud` may be an array that contains an accepted form. FAPI 2.0 wants the
     * one accepted value as a string (false when absent).
     */
    audienceArray: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Authorization request rules of FAPI 1.0 Advanced (final); FAPI 2.0 behaviour when absent. */
const AuthorizationRequestRules = Type.Object(
  {
    /** response_type values offered: `code` and/or the hybrid `code id_token`; [code] when absent. */
    responseTypes: Type.Optional(Type.Array(ResponseType, { minItems: 1, uniqueItems: true })),
    /** FAPI 1.0 Advanced §5.2.2-2: response_type=code only with a JARM response mode (`jwt`, `query.jwt`). */
    codeRequiresJarm: Type.Optional(Type.Boolean()),
    /**
     * Parameters a signed request object must itself carry (FAPI 1.0 Advanced §5.2.2-10, §5.2.3-8):
     * with one missing the request object is refused, whatever the form says. `exp` and `nbf` are
     * always required; `nonce` here means with scope openid (FAPI 1.0 Baseline §5.2.2.2).
     */
    requestObjectClaims: Type.Optional(
      Type.Array(Type.Union([Type.Literal('scope'), Type.Literal('redirect_uri'), Type.Literal('nonce'), Type.Literal('state')]), { uniqueItems: true }),
    ),
    /**
     * `required`: every client that may use the code flow registers id_token_encrypted_response_alg,
     * so that no ID token leaves in the clear (Open Finance Brasil FAPI 1.0: RSA-OAEP with A256GCM).
     */
    idTokenEncryption: Type.Optional(Type.Union([Type.Literal('required'), Type.Literal('optional')])),
  },
  { additionalProperties: false },
);

export const ProfileSchema = Type.Object(
  {
    name: NonEmpty,
    description: Type.Optional(Type.String()),
    clientAuthMethods: Type.Array(ClientAuthMethod, { minItems: 1, uniqueItems: true }),
    algorithms: Type.Object(
      {
        signing: Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true }),
        clientAssertion: Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true }),
        /** JWS algorithms accepted on signed request objects (RFC 9101); the clientAssertion list when absent. */
        requestObject: Type.Optional(Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true })),
        /** JWS algorithms for JARM responses; `signing` when absent. */
        authorizationResponse: Type.Optional(Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true })),
        /** Encryption of JARM responses, ID tokens and userinfo to a client's key; none offered when absent. */
        encryption: Type.Optional(
          Type.Object(
            {
              alg: Type.Array(KeyEncryptionAlgorithm, { minItems: 1, uniqueItems: true }),
              enc: Type.Array(ContentEncryptionAlgorithm, { minItems: 1, uniqueItems: true }),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    /** Signed request objects at PAR (RFC 9101): required, accepted, or refused (`none`, when absent). */
    requestObject: Type.Optional(RequestObjectMode),
    /** What the built-in login reaches, as `acr` values (the first is the default); none claimed when absent. */
    acrValues: Type.Optional(Type.Array(NonEmpty, { uniqueItems: true })),
    clientAssertion: ClientAssertionRules,
    grantTypes: Type.Array(GrantType, { minItems: 1, uniqueItems: true }),
    responseModes: Type.Array(ResponseMode, { minItems: 1, uniqueItems: true }),
    lifetimes: Type.Object(
      {
        code: Type.Integer({ minimum: 1, maximum: 60 }),
        requestUri: Type.Integer({ minimum: 1, maximum: 599 }),
        accessToken: Type.Integer({ minimum: 1, maximum: 3600 }),
        idToken: Type.Integer({ minimum: 1, maximum: 3600 }),
        refreshToken: Seconds,
        interaction: Type.Integer({ minimum: 30, maximum: 3600 }),
        session: Type.Integer({ minimum: 0, maximum: 86400 }),
        /** The longest a grant (and every refresh token of it) lasts from its creation; 400 days when absent. */
        grant: Type.Optional(Type.Integer({ minimum: 1, maximum: 34_560_000 })),
      },
      { additionalProperties: false },
    ),
    refreshTokenRotation: Type.Object(
      { enabled: Type.Boolean(), graceSeconds: Type.Integer({ minimum: 0, maximum: 3600 }) },
      { additionalProperties: false },
    ),
    consent: Type.Object({ everyTime: Type.Boolean() }, { additionalProperties: false }),
    /** Dynamic client registration (RFC 7591): which request bodies are accepted, how old a software statement may be. */
    registration: Type.Optional(
      Type.Object(
        {
          requestFormats: Type.Array(Type.Union([Type.Literal('json'), Type.Literal('jwt')]), { minItems: 1, uniqueItems: true }),
          softwareStatementMaxAgeSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
        },
        { additionalProperties: false },
      ),
    ),
    ecosystem: Type.Union([Type.Null(), NonEmpty]),
    /**
     * OIDC Core §8 subject identifier types offered; `public` when absent. With `pairwise`, a client
     * sees a `sub` of its own sector (needs `subjects.pairwiseSecret` in the config).
     */
    subjectTypes: Type.Optional(Type.Array(Type.Union([Type.Literal('public'), Type.Literal('pairwise')]), { minItems: 1, uniqueItems: true })),
    /** Which tokens introspection reports on; both when absent (another type answers `{"active": false}`). */
    introspection: Type.Optional(
      Type.Object(
        { tokenTypes: Type.Array(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')]), { minItems: 1, uniqueItems: true }) },
        { additionalProperties: false },
      ),
    ),
    /** ID tokens may carry the user's own claims when asked (false: only the protocol's claims). True when absent. */
    idTokenUserClaims: Type.Optional(Type.Boolean()),
    /**
     * Ranges a policy may choose a number within, by the key's dotted path (e.g. `lifetimes.accessToken`):
     * the profile's value is the default, and a policy may pick any value in the range, or narrow the range.
     */
    bounds: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z]+(\\.[A-Za-z]+)*$' }),
        Type.Object({ min: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
      ),
    ),
    /** TLS of the public and mTLS listeners; the FAPI 2.0 defaults (src/tls/policy.ts) when absent. */
    tls: Type.Optional(
      Type.Object(
        {
          /** The TLS 1.2 cipher suites offered, among FAPI 2.0's four (TLS 1.3 is always offered). */
          tls12CipherSuites: Type.Optional(Type.Array(Tls12CipherSuite, { minItems: 1, uniqueItems: true })),
          /** false: TLS 1.2 renegotiation is refused (TLS 1.3 has none). */
          renegotiation: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Whether the back channel (PAR, token, userinfo, introspection, revocation, resource routes) also
     * answers on the public listener (default true: clients without a certificate, DPoP); false: on
     * the mTLS listener only.
     */
    publicBackChannel: Type.Optional(Type.Boolean()),
    /**
     * OpenID Grant Management for OAuth 2.0 for clients: `grant_id` in token responses,
     * `grant_management_action` at PAR, `/grants/{grant_id}` (off when absent).
     */
    grantManagement: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean(),
          /** Every authorization request must carry `grant_management_action` (advertised as `grant_management_action_required`). */
          actionRequired: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Authorization request rules of FAPI 1.0 Advanced (final), for ecosystems that still certify on it;
     * FAPI 2.0 behaviour (response_type=code only, no further rules) when absent.
     */
    authorizationRequest: Type.Optional(AuthorizationRequestRules),
    /**
     * FAPI 1.0 Advanced (final) beside FAPI 2.0 in one profile, for ecosystems that certify on both:
     * these keys replace the profile's own for the clients that registered the FAPI 1.0 way, a JARM
     * response (`authorization_signed_response_alg`) or a response type with an ID token (`code
     * id_token`). Every other client keeps the profile's FAPI 2.0 rules.
     */
    fapi1Advanced: Type.Optional(
      Type.Object(
        {
          clientAssertion: Type.Optional(Type.Partial(ClientAssertionRules)),
          requestObject: Type.Optional(RequestObjectMode),
          responseModes: Type.Optional(Type.Array(ResponseMode, { minItems: 1, uniqueItems: true })),
          authorizationRequest: Type.Optional(AuthorizationRequestRules),
        },
        { additionalProperties: false },
      ),
    ),
    /** DPoP proofs (RFC 9449); src/dpop/rules.ts gives the defaults when a profile has none. */
    dpop: Type.Optional(
      Type.Object(
        {
          algorithms: Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true }),
          maxAgeSeconds: Type.Integer({ minimum: 1, maximum: 300 }),
          futureToleranceSeconds: Type.Integer({ minimum: 0, maximum: 60 }),
          nonce: Type.Union([Type.Literal('required'), Type.Literal('off')]),
          nonceWindowSeconds: Type.Integer({ minimum: 10, maximum: 3600 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Profile = Static<typeof ProfileSchema>;

const Listener = Type.Object(
  { host: Type.String({ default: '127.0.0.1' }), port: Port, url: Type.Optional(Type.String({ pattern: '^https://[^?#]+$' })) },
  { additionalProperties: false },
);

const Jwk = Type.Object({ kty: NonEmpty }, { additionalProperties: true });

export const ClientSchema = Type.Object(
  {
    client_id: NonEmpty,
    client_name: Type.Optional(Type.String()),
    token_endpoint_auth_method: NonEmpty,
    token_endpoint_auth_signing_alg: Type.Optional(NonEmpty),
    id_token_signed_response_alg: Type.Optional(NonEmpty),
    require_signed_request_object: Type.Optional(Type.Boolean()),
    request_object_signing_alg: Type.Optional(NonEmpty),
    request_object_encryption_alg: Type.Optional(NonEmpty),
    request_object_encryption_enc: Type.Optional(NonEmpty),
    // Signed and encrypted responses (JARM, OIDC Registration §2): values must be in the profile.
    authorization_signed_response_alg: Type.Optional(NonEmpty),
    authorization_encrypted_response_alg: Type.Optional(NonEmpty),
    authorization_encrypted_response_enc: Type.Optional(NonEmpty),
    id_token_encrypted_response_alg: Type.Optional(NonEmpty),
    id_token_encrypted_response_enc: Type.Optional(NonEmpty),
    userinfo_signed_response_alg: Type.Optional(NonEmpty),
    userinfo_encrypted_response_alg: Type.Optional(NonEmpty),
    userinfo_encrypted_response_enc: Type.Optional(NonEmpty),
    jwks: Type.Optional(Type.Object({ keys: Type.Array(Jwk) }, { additionalProperties: false })),
    jwks_uri: Type.Optional(Type.String({ pattern: '^https://' })),
    tls_client_auth_subject_dn: Type.Optional(NonEmpty),
    tls_client_auth_san_dns: Type.Optional(NonEmpty),
    tls_client_auth_san_uri: Type.Optional(NonEmpty),
    tls_client_auth_san_ip: Type.Optional(NonEmpty),
    tls_client_auth_san_email: Type.Optional(NonEmpty),
    redirect_uris: Type.Array(NonEmpty, { default: [] }),
    scope: Type.String({ default: 'openid' }),
    grant_types: Type.Array(NonEmpty, { default: ['authorization_code'] }),
    response_types: Type.Optional(Type.Array(NonEmpty)),
    // Informational RFC 7591 / OpenID registration metadata, accepted so registrations copied from
    // elsewhere load; the ones that would change behaviour only take the value the gateway enforces.
    client_uri: Type.Optional(Type.String()),
    logo_uri: Type.Optional(Type.String()),
    tos_uri: Type.Optional(Type.String()),
    policy_uri: Type.Optional(Type.String()),
    contacts: Type.Optional(Type.Array(Type.String())),
    software_id: Type.Optional(Type.String()),
    software_version: Type.Optional(Type.String()),
    // From an ecosystem's software statement: whose software it is, and where it takes notices
    // about its arrangements (ecosystems that send them).
    org_id: Type.Optional(Type.String()),
    legal_entity_id: Type.Optional(Type.String()),
    recipient_base_uri: Type.Optional(Type.String({ pattern: '^https://[^?#]+$' })),
    revocation_uri: Type.Optional(Type.String({ pattern: '^https://' })),
    application_type: Type.Optional(Type.Literal('web')),
    subject_type: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('pairwise')])),
    /** OIDC Core §8.1: the pairwise sector is this URL's host instead of the redirect URIs' one host. */
    sector_identifier_uri: Type.Optional(Type.String({ pattern: '^https://' })),
    tls_client_certificate_bound_access_tokens: Type.Optional(Type.Literal(true)),
    require_pushed_authorization_requests: Type.Optional(Type.Literal(true)),
    post_logout_redirect_uris: Type.Optional(Type.Array(Type.String())),
    /** RFC 9449 §5.2: every token request must carry a DPoP proof; tokens are bound to its key. */
    dpop_bound_access_tokens: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ClientMetadata = Static<typeof ClientSchema>;

export const UserSchema = Type.Object(
  {
    username: NonEmpty,
    passwordHash: Type.Optional(Type.String({ pattern: '^\\$scrypt\\$' })),
    password: Type.Optional(NonEmpty),
    sub: Type.Optional(NonEmpty),
    claims: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** The `acr` values this user's login reaches; the profile's `acrValues` when absent. */
    acr: Type.Optional(Type.Array(NonEmpty, { uniqueItems: true })),
    /** A TOTP secret (RFC 6238, base32, SHA-1, 6 digits, 30 s): the user then signs in with password and one-time code. */
    totpSecret: Type.Optional(Type.String({ pattern: '^[A-Za-z2-7]{16,128}=*$' })),
  },
  { additionalProperties: false },
);
export type UserConfig = Static<typeof UserSchema>;

const HostPort = Type.Object(
  { host: NonEmpty, port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);

/** The embedded store; full (503 for new records) at either bound. Defaults: 500,000 records, a quarter of the heap limit. */
export const MemoryStoreConfig = Type.Object(
  {
    type: Type.Literal('memory'),
    maxEntries: Type.Optional(Type.Integer({ minimum: 10 })),
    maxBytes: Type.Optional(Type.Integer({ minimum: 65_536 })),
  },
  { additionalProperties: false },
);

/**
 * Signing keys in a PKCS#11 token (an HSM, SoftHSM): generated inside it and never exported; the
 * gateway reads their public halves for the JWKS and asks the token to sign.
 */
const Pkcs11SignerConfig = Type.Object(
  {
    type: Type.Literal('pkcs11'),
    /** The PKCS#11 module (shared library) path, e.g. /usr/lib/softhsm/libsofthsm2.so. */
    module: NonEmpty,
    /** The token, by label (preferred) or by slot index. */
    tokenLabel: Type.Optional(NonEmpty),
    slot: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The user PIN: from an environment variable or a file, never in the config itself. */
    pin: Type.Union([
      Type.Object({ env: NonEmpty }, { additionalProperties: false }),
      Type.Object({ file: NonEmpty }, { additionalProperties: false }),
    ]),
    keys: Type.Array(
      Type.Object(
        {
          kid: NonEmpty,
          alg: Type.Union([Type.Literal('PS256'), Type.Literal('ES256')]),
          /** The key pair's CKA_LABEL in the token (the private and the public object share it). */
          label: NonEmpty,
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

/** Redis for many replicas; the url (with credentials) may come from FAPI_GATEWAY_REDIS_URL instead. */
export const RedisStoreConfig = Type.Object(
  {
    type: Type.Literal('redis'),
    url: Type.String({ pattern: '^rediss?://' }),
    keyPrefix: Type.Optional(Type.String()),
    /** CA file (PEM) that signs the Redis server certificate; rediss:// only. */
    tls: Type.Optional(Type.Object({ ca: NonEmpty }, { additionalProperties: false })),
    sentinel: Type.Optional(
      Type.Object({ sentinels: Type.Array(HostPort, { minItems: 1 }), name: NonEmpty }, { additionalProperties: false }),
    ),
    cluster: Type.Optional(Type.Object({ nodes: Type.Array(HostPort, { minItems: 1 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type StoreConfig = Static<typeof MemoryStoreConfig> | Static<typeof RedisStoreConfig>;

/** Requests a minute per client address (0 turns the limit off); burst defaults to a minute's worth. */
const PerIpRateLimit = (perIpPerMinute: number) =>
  Type.Object(
    { perIpPerMinute: Type.Integer({ minimum: 0, default: perIpPerMinute }), burst: Type.Optional(Type.Integer({ minimum: 1 })) },
    { additionalProperties: false, default: {} },
  );

const HttpMethod = Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)));

/** A resource API behind the gateway. */
export const RouteSchema = Type.Object(
  {
    /** Matched on whole path segments: `/accounts` matches `/accounts` and `/accounts/1`, not `/accountsx`. */
    prefix: Type.String({ pattern: '^(/[A-Za-z0-9._~!$&\'()+,;=:@-]+)+$' }),
    upstream: Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$' }),
    scopes: Type.Array(NonEmpty, { default: [] }),
    methods: Type.Array(HttpMethod, { minItems: 1, uniqueItems: true, default: ['GET'] }),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 300_000, default: 10_000 }),
    bodyLimitBytes: Type.Integer({ minimum: 0, maximum: 104_857_600, default: 1_048_576 }),
    /** Pass the client's Authorization header upstream (off: upstreams trust the identity headers instead). */
    forwardAuthorization: Type.Boolean({ default: false }),
    /** Upstream exchanges in flight at once (the connection pool) and calls that may wait for one; past both: 503. */
    maxConnections: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
    maxPending: Type.Integer({ minimum: 0, maximum: 65_536, default: 32 }),
    /** The ecosystem pack's settings for this route (API versions, permissions...): validated by the pack. */
    ecosystem: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type RouteConfig = Static<typeof RouteSchema>;

/** A directory whose signed software statements registration trusts: its JWKS from a file or an https URL. */
const TrustedDirectory = Type.Object(
  {
    issuer: NonEmpty,
    jwksFile: Type.Optional(NonEmpty),
    jwksUri: Type.Optional(Type.String({ pattern: '^https://' })),
    /** JWS algorithms its statements may be signed with; the profile's signing algorithms when absent. */
    algorithms: Type.Optional(Type.Array(SigningAlgorithm, { minItems: 1, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type TrustedDirectorySettings = Static<typeof TrustedDirectory>;

/** Dynamic client registration (RFC 7591/7592) on the mTLS listener; off by default. */
export const RegistrationConfig = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    /** When any is named, a registration needs a software statement signed by one of them (or an initial access token). */
    directories: Type.Array(TrustedDirectory, { default: [] }),
    /** SHA-256 (hex) of initial access tokens accepted instead of a software statement; the tokens themselves stay out of the file. */
    initialAccessTokenSha256: Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), { default: [] }),
    /** Scopes a registered client may hold; default: openid, the config clients' and the routes' scopes. */
    scopes: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
    maxClients: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
    /** Registrations and management calls a minute, per client address and in all (per replica). */
    rateLimit: Type.Object(
      {
        perIpPerMinute: Type.Integer({ minimum: 1, default: 10 }),
        perMinute: Type.Integer({ minimum: 1, default: 120 }),
      },
      { additionalProperties: false, default: {} },
    ),
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 32_768 }),
    /** Registered clients kept in each replica's memory (least recently used go first). */
    cacheSize: Type.Integer({ minimum: 10, maximum: 1_000_000, default: 10_000 }),
    /** Private address blocks a registered client's jwks_uri (or a directory URL) may resolve to; none by default. */
    allowPrivateAddresses: Type.Array(NonEmpty, { default: [] }),
  },
  { additionalProperties: false, default: {} },
);
export type RegistrationSettings = Static<typeof RegistrationConfig>;

const AcrList = Type.Array(NonEmpty, { uniqueItems: true, minItems: 1 });

/**
 * Who signs the customer in. `builtin`: the user list of this config (sandboxes, conformance runs).
 * `external`: the bank's own login and consent app, over the interaction API. `oidc`: the bank's
 * OpenID provider, then the gateway's consent page. Each mode's keys are checked at start
 * (src/login/settings.ts); keys of another mode are refused.
 */
export const InteractionConfig = Type.Object(
  {
    mode: Type.Union([Type.Literal('builtin'), Type.Literal('external'), Type.Literal('oidc')], { default: 'builtin' }),
    /** builtin: the `acr` values each login path reaches (password only; password and TOTP). */
    acr: Type.Optional(Type.Object({ password: Type.Optional(AcrList), passwordAndTotp: Type.Optional(AcrList) }, { additionalProperties: false })),
    /** external: where the browser is sent, with `?interaction_id=`. */
    loginUrl: Type.Optional(Type.String({ pattern: '^https://[^#]+$' })),
    /** external: the CA files that issue the bank apps' client certificates for the interaction listener. */
    clientCAs: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
    /** external and oidc: the `acr` values the bank may assert (after mapping); anything else is refused. */
    acrValues: Type.Optional(AcrList),
    /** external and oidc: the `amr` values passed on (RFC 8176); others are dropped. Default: all. */
    amrValues: Type.Optional(Type.Array(NonEmpty, { uniqueItems: true })),
    /** external: the user claims the bank's app may assert at login (released per scope or `claims` as for built-in users). */
    claims: Type.Optional(Type.Array(NonEmpty, { uniqueItems: true })),
    /** oidc: the provider's issuer (discovery at `/.well-known/openid-configuration`). */
    issuer: Type.Optional(Type.String({ pattern: '^https://[^?#]+$' })),
    client_id: Type.Optional(NonEmpty),
    /** oidc: how the gateway authenticates to the provider. */
    clientAuth: Type.Optional(Type.Union([Type.Literal('private_key_jwt'), Type.Literal('tls_client_auth')])),
    /** oidc, private_key_jwt: a private JWK file (with `alg` and `kid`). */
    clientKey: Type.Optional(NonEmpty),
    /** oidc, tls_client_auth: the gateway's client certificate and key files (PEM). */
    clientCertificate: Type.Optional(Type.Object({ cert: NonEmpty, key: NonEmpty }, { additionalProperties: false })),
    /** oidc: a CA file to trust for the provider's TLS instead of the system's. */
    ca: Type.Optional(NonEmpty),
    /** oidc: scopes asked of the provider (must include openid). */
    scope: Type.Optional(Type.String({ pattern: '(^| )openid( |$)' })),
    /** oidc: the provider may be at a private or loopback address (an internal identity provider). */
    allowPrivateAddresses: Type.Optional(Type.Boolean()),
    /** oidc: the provider's values → the gateway's (`acr`, `amr`), and gateway claim name → provider claim name. */
    mapping: Type.Optional(
      Type.Object(
        {
          acr: Type.Optional(Type.Record(Type.String(), NonEmpty)),
          amr: Type.Optional(Type.Record(Type.String(), NonEmpty)),
          claims: Type.Optional(Type.Record(Type.String(), NonEmpty)),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, default: {} },
);
export type InteractionSettings = Static<typeof InteractionConfig>;

/** Text the customer reads: one string, or one per locale tag (`en`, `pt-BR`). */
const LocalisedText = Type.Union([NonEmpty, Type.Record(Type.String(), NonEmpty)]);

/**
 * The bank's face on the login, consent and error pages (src/interaction/ui/): branding, languages,
 * texts, where accounts come from. Everything is served by the gateway itself (the pages' CSP
 * allows nothing else); files are read and checked at start (src/interaction/ui/settings.ts).
 */
export const UiConfig = Type.Object(
  {
    bankName: Type.String({ minLength: 1, maxLength: 80, default: 'Your bank' }),
    /** A PNG, JPEG, WebP or SVG file (at most 256 KiB), served at /assets/logo. */
    logo: Type.Optional(NonEmpty),
    /** `#rrggbb`: header, buttons and links; white text on it must meet WCAG AA (4.5:1). */
    primaryColor: Type.String({ pattern: '^#[0-9a-fA-F]{6}$', default: '#0b5394' }),
    /** A CSS file added after the built-in theme (at most 256 KiB; no external url() or @import). */
    stylesheet: Type.Optional(NonEmpty),
    supportUrl: Type.Optional(Type.String({ pattern: '^(https://|mailto:|tel:)' })),
    privacyUrl: Type.Optional(Type.String({ pattern: '^https://' })),
    footer: Type.Optional(LocalisedText),
    /** The locales offered (default: every catalogue); `defaultLocale` when the browser asks for none of them. */
    locales: Type.Optional(Type.Array(NonEmpty, { minItems: 1, uniqueItems: true })),
    defaultLocale: Type.String({ minLength: 1, default: 'en' }),
    /** Catalogue texts replaced, by locale then dotted key (e.g. `consent.heading`). */
    texts: Type.Optional(Type.Record(Type.String(), Type.Record(Type.String(), NonEmpty))),
    /** Scope texts beyond (or instead of) the catalogues': by scope, a title and the data it covers. */
    scopes: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            group: Type.Optional(Type.Union(['identity', 'accounts', 'transactions', 'payments', 'other'].map((g) => Type.Literal(g)))),
            title: LocalisedText,
            details: Type.Optional(Type.Record(Type.String(), Type.Array(NonEmpty))),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    /** "You can withdraw this access at any time in <where>", linked to `url`. */
    withdrawal: Type.Optional(Type.Object({ where: Type.Optional(LocalisedText), url: Type.Optional(Type.String({ pattern: '^https://' })) }, { additionalProperties: false })),
    /**
     * The bank's list of the customer's accounts for the account selection step: GET `url?sub=<sub>`
     * answering `{ "accounts": [{ "id", "label", "detail"? }] }`. Without it, only a pack's accounts are offered.
     */
    accounts: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https://[^#]+$' }),
          timeoutMs: Type.Integer({ minimum: 100, maximum: 30000, default: 3000 }),
          /** A CA file to trust instead of the system's, and a client certificate (mTLS to the bank). */
          ca: Type.Optional(NonEmpty),
          clientCertificate: Type.Optional(Type.Object({ cert: NonEmpty, key: NonEmpty }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Client logos (`logo_uri`), fetched by the gateway and served from /assets/clients/{id}/logo. */
    clientLogos: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        maxBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 102400 }),
        timeoutMs: Type.Integer({ minimum: 100, maximum: 10000, default: 3000 }),
        /** Internal mirrors (and tests): logo_uri may point at a private or loopback address, served under this CA file. */
        allowPrivateAddresses: Type.Boolean({ default: false }),
        ca: Type.Optional(NonEmpty),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);
export type UiSettings = Static<typeof UiConfig>;
/**
 * The bank's view of its customers' grants: the admin API and CLI (`fapi-gateway grants ...`), and
 * how grants are indexed and their life kept (src/grants/management/).
 */
export const GrantManagementConfig = Type.Object(
  {
    admin: Type.Object(
      {
        /**
         * Who may call the admin API. `off`: nobody (the CLI still works). `mtls`: its own listener
         * (`listeners.admin`), with a client certificate from `clientCAs` required at the handshake.
         * `token`: the TLS back-channel listeners under /admin/grants, with a sender-constrained
         * client_credentials access token holding `scope`.
         */
        auth: Type.Union([Type.Literal('off'), Type.Literal('mtls'), Type.Literal('token')], { default: 'off' }),
        /** mtls: the CA files that issue the bank's admin certificates (never the clients' CAs). */
        clientCAs: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
        /** token: the scope an access token needs (give it to the bank's own client only). */
        scope: Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', default: 'grants:admin' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** How long a grant's life trail is kept after the grant's end (0: until its end only). */
    trailRetentionDays: Type.Integer({ minimum: 0, maximum: 3650, default: 90 }),
    /** A customer's grants listed at most (the soonest to expire are dropped from the index past it). */
    maxGrantsPerCustomer: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
    /** A client's customer grants listed at most. */
    maxGrantsPerClient: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  },
  { additionalProperties: false, default: {} },
);
export type GrantManagementSettings = Static<typeof GrantManagementConfig>;

export const ConfigSchema = Type.Object(
  {
    issuer: Type.String({ pattern: '^https://[^?#]+$' }),
    /** A profile name (profiles/<name>.yaml) or the path of a profile file of the deployment's own. */
    profile: Type.String({ default: 'fapi2', minLength: 1 }),
    /** Tightens the profile; any value looser than the profile's is a start-up error. */
    policy: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    listeners: Type.Object(
      {
        public: Listener,
        mtls: Listener,
        ops: Listener,
        /** The interaction API (`interaction.mode: external`): mTLS with the bank's apps' CA only; never exposed publicly. */
        interaction: Type.Optional(Listener),
        /** The grant management admin API (`grantManagement.admin.auth: mtls`): mTLS with `grantManagement.admin.clientCAs` only; never exposed publicly. */
        admin: Type.Optional(Listener),
      },
      { additionalProperties: false },
    ),
    tls: Type.Object(
      {
        cert: NonEmpty,
        key: NonEmpty,
        clientCAs: Type.Array(NonEmpty, { minItems: 1 }),
        /**
         * Behind an ingress that terminates TLS: the client certificate arrives in a header, trusted
         * only on connections from these proxy addresses (off when absent).
         */
        forwardedClientCertificate: Type.Optional(
          Type.Object(
            {
              header: Type.Union([Type.Literal('ssl-client-cert'), Type.Literal('x-forwarded-client-cert')]),
              trustedProxies: Type.Array(NonEmpty, { minItems: 1 }),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    keys: Type.Object(
      {
        /** JWKS file of the server's private signing keys (every key published; `active` in the file, or keys.active, sign). Not with keys.signer. */
        signing: Type.Optional(NonEmpty),
        /** Signing keys held in an HSM (PKCS#11) instead of a file. */
        signer: Type.Optional(Pkcs11SignerConfig),
        /** kids of the keys to sign with (one per algorithm); the first key of each algorithm otherwise. An `active` list in the keys file wins. */
        active: Type.Optional(Type.Array(NonEmpty)),
        /** JWKS file of the server's private `use: enc` keys (request object decryption); used when the profile takes request objects. */
        encryption: Type.Optional(NonEmpty),
      },
      { additionalProperties: false },
    ),
    /**
     * Reloading the TLS certificate, key and client CAs and the signing keys without a restart: on
     * SIGHUP always; when their folders change unless `watch` is false, `debounceMs` after the last change.
     */
    reload: Type.Object(
      {
        watch: Type.Boolean({ default: true }),
        debounceMs: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    store: Type.Union([MemoryStoreConfig, RedisStoreConfig], { default: { type: 'memory' } }),
    users: Type.Array(UserSchema, { default: [] }),
    routes: Type.Array(RouteSchema, { default: [] }),
    /** Refuse requests with 503 while the process is overloaded (0 turns a threshold off). */
    loadShedding: Type.Object(
      {
        maxEventLoopDelayMs: Type.Integer({ minimum: 0, default: 1000 }),
        /** Default 85% of the V8 heap limit. */
        maxHeapUsedBytes: Type.Optional(Type.Integer({ minimum: 0 })),
        /** Default 1.5 times the V8 heap limit (the heap, plus buffers, code and stacks). */
        maxRssBytes: Type.Optional(Type.Integer({ minimum: 0 })),
        retryAfterSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
        sampleIntervalMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Per-client-address rate limits of the TLS listeners (429 + Retry-After past them). */
    rateLimit: Type.Object(
      {
        public: PerIpRateLimit(600),
        mtls: PerIpRateLimit(12_000),
        maxTrackedIps: Type.Integer({ minimum: 100, default: 100_000 }),
        /**
         * Addresses never limited. Loopback by default: behind a sidecar proxy every client arrives
         * from it and would share one bucket, and the machine's own probes and tools come from there.
         */
        exempt: Type.Array(NonEmpty, { default: ['127.0.0.0/8', '::1'] }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Costly work admitted within bounds; past them refused at once with 503 and Retry-After. */
    admission: Type.Object(
      {
        /** Password checks (scrypt, 16 MiB and tens of ms each). Defaults: one per core but one (at most UV_THREADPOOL_SIZE − 2), queue 4 × concurrency. */
        passwordHashing: Type.Object(
          {
            concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
            queue: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
            retryAfterSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 2 }),
          },
          { additionalProperties: false, default: {} },
        ),
        /**
         * While work is being refused, /readyz answers 503 so a load balancer sends new sessions to
         * another replica. Off: it still names the saturation, with 200, for deployments whose
         * readiness probe would otherwise take the token and API traffic out with the logins.
         */
        notReadyWhenSaturated: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Failed logins lock the username (and the client address) for a growing period. */
    loginThrottle: Type.Object(
      {
        maxFailures: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
        /** Per client address (0: off), as the rate limits see it (IPv6 by /64, X-Forwarded-For from trusted proxies). */
        maxFailuresPerAddress: Type.Integer({ minimum: 0, maximum: 100_000, default: 100 }),
        lockSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 30 }),
        maxLockSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
        /** How long failures (and past lockouts) are remembered. */
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
        /** A failed login's answer waits this long, doubling with each failure of the username or address (0: no delay). */
        delayMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 250 }),
        maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 4_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    clients: Type.Array(ClientSchema, { default: [] }),
    registration: RegistrationConfig,
    interaction: InteractionConfig,
    /** The customer-facing pages: branding, languages, scope texts, account selection. */
    ui: UiConfig,
    grantManagement: GrantManagementConfig,
    /**
     * The settings of the profile's ecosystem pack (a Register's URLs, a bank's identifiers...): the
     * pack validates them itself and names the key path under `ecosystem` when one is wrong.
     */
    ecosystem: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    shutdown: Type.Object(
      {
        graceSeconds: Type.Integer({ minimum: 0, maximum: 600, default: 20 }),
        /** On SIGTERM, readiness turns off and requests are still served this long (within the grace) before the listeners close. */
        readinessDelaySeconds: Type.Integer({ minimum: 0, maximum: 300, default: 5 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Per listener: how long a client may take to send a request, and how many connections it may hold. */
    server: Type.Object(
      {
        requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
        headersTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
        keepAliveTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
        handshakeTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
        /** 0: no limit. */
        maxRequestsPerSocket: Type.Integer({ minimum: 0, default: 0 }),
        maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      { bodyBytes: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }) },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
        /** Human-readable lines instead of JSON (development). */
        pretty: Type.Boolean({ default: false }),
        /** Log lines waiting for a slow stdout reader past this many bytes are dropped (and counted). */
        maxBufferBytes: Type.Integer({ minimum: 16_384, maximum: 268_435_456, default: 4_194_304 }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object({ enabled: Type.Boolean({ default: true }) }, { additionalProperties: false, default: {} }),
    /**
     * OpenTelemetry tracing, off by default. Unset keys fall back to the standard OTEL_* variables
     * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER_ARG, ...).
     */
    tracing: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        /** The collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. */
        endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
        protocol: Type.Optional(Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')])),
        serviceName: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
        /** The share of requests traced (0 to 1); a continued caller's trace keeps the caller's decision. */
        sampleRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
        /** Continue a caller's trace (its `traceparent`): only behind a proxy that sets or strips it. */
        acceptIncomingContext: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** The audit stream (docs/operations.md, "Audit trail"): security and lifecycle events, hash-chained. */
    audit: Type.Object(
      {
        /** Append audit records to this file (its own buffered writer); without it they go to stdout with the log, marked `"stream":"audit"`. */
        file: Type.Optional(Type.String({ minLength: 1 })),
        /** This replica's name in every record (default: the host name, a pod's name in Kubernetes). */
        replica: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        /** Audit records waiting for a slow file past this many bytes are dropped, counted and stated in the chain. */
        maxBufferBytes: Type.Integer({ minimum: 16_384, maximum: 268_435_456, default: 4_194_304 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** DPoP server nonces: the HMAC key every replica shares (also FAPI_GATEWAY_DPOP_NONCE_KEY); at least 32 characters. */
    dpop: Type.Optional(Type.Object({ nonceKey: Type.Optional(Type.String({ minLength: 32 })) }, { additionalProperties: false })),
    /** Pairwise subjects (profiles with `subjectTypes: [pairwise]`): the HMAC secret (also FAPI_GATEWAY_PAIRWISE_SECRET); at least 32 characters. */
    subjects: Type.Optional(Type.Object({ pairwiseSecret: Type.Optional(Type.String({ minLength: 32 })) }, { additionalProperties: false })),
    discovery: Type.Object(
      {
        /**
         * Which listener discovery's plain back-channel fields (token_endpoint, ...) name. `mtls`: the
         * mTLS listener, for clients that read no mtls_endpoint_aliases. `public`: the public listener,
         * for deployments with clients that hold no certificate (DPoP with private_key_jwt); clients with
         * certificates then use mtls_endpoint_aliases (RFC 8705 §5). The back channel answers on both.
         */
        plainEndpoints: Type.Union([Type.Literal('mtls'), Type.Literal('public')], { default: 'mtls' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigSchema>;
