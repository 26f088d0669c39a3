/**
 * The one description of a conformance run: which suite plans and variants the gateway is proven
 * against, and, from a PKI, both the gateway config for a local run and the suite's test config for
 * each variant. `run.ts` writes these files; `test/conformance-configs.test.ts` checks them.
 */
import { X509Certificate } from 'node:crypto';
import { hashPasswordSync } from '../src/users/password.js';

/** Loopback ports of a local run (all on 127.0.0.1). */
export interface Ports {
  mongo: number;
  suiteHttp: number;
  suiteHttps: number;
  gatewayPublic: number;
  gatewayMtls: number;
  gatewayOps: number;
  bank: number;
  /** The stand-in Directory of the Brazil DCR plan. */
  directory: number;
}

export const DEFAULT_PORTS: Ports = {
  mongo: 37017,
  suiteHttp: 38080,
  suiteHttps: 38443,
  gatewayPublic: 28443,
  gatewayMtls: 28444,
  gatewayOps: 29090,
  bank: 29101,
  directory: 29102,
};

/** Where the suite and the gateway are reached (a local run, or a bank's deployment). */
export interface Endpoints {
  /** The suite's external base URL: redirect URIs are its `/test/a/<alias>/callback`. */
  suiteBase: string;
  /** The gateway's issuer (public listener: discovery, authorization, login and consent pages). */
  issuer: string;
  /** The gateway's mutual-TLS base URL (PAR, token, resource routes). */
  mtlsBase: string;
}

export function localEndpoints(ports: Ports = DEFAULT_PORTS): Endpoints {
  return {
    suiteBase: `https://localhost:${ports.suiteHttps}`,
    issuer: `https://localhost:${ports.gatewayPublic}`,
    mtlsBase: `https://localhost:${ports.gatewayMtls}`,
  };
}

/** The suite's plans by the short names the runner takes. */
export const PLANS = {
  'fapi2-security-profile': 'fapi2-security-profile-final-test-plan',
  'fapi2-message-signing': 'fapi2-message-signing-final-test-plan',
  'brazil-dcr': 'fapi2-security-profile-final-brazil-dcr-test-plan',
  'fapi1-advanced': 'fapi1-advanced-final-test-plan',
} as const;
export type PlanName = keyof typeof PLANS;

export type ClientAuth = 'private_key_jwt' | 'mtls';

/** One plan + variant choice the project runs, with its own suite alias and its own pair of clients. */
export interface ConformanceVariant {
  plan: PlanName;
  /** The runner's name for it (`--variant NAME`). */
  name: string;
  clientAuth: ClientAuth;
  /** The suite's variant selection, as sent to its API. */
  suiteVariant: Record<string, string>;
  /** The suite's test alias: its callback is `<suiteBase>/test/a/<alias>/callback`. */
  alias: string;
  /** Prefix of the two client_ids (`<prefix>-1`, `<prefix>-2`). */
  clientPrefix: string;
  scope: string;
  grantTypes: string[];
  /** Whether the flow has a browser (login and consent pages); the client-credentials variant has none. */
  browser: boolean;
  /** The gateway profile the variant runs against (`fapi2` when absent): one gateway config per profile. */
  profile?: string;
  /** Registration metadata the variant's clients add (e.g. require_signed_request_object). */
  clientMetadata?: Record<string, unknown>;
  /** DPoP-bound tokens (`sender_constrain=dpop`): clients registered `dpop_bound_access_tokens: true`. */
  dpop?: boolean;
  /** The clients' JWKS carry their RSA `use: enc` key too (ID tokens encrypted to them). */
  encryptionKeys?: boolean;
  /** The `alg` the clients' encryption key is published with, when not its own (RSA-OAEP-256). */
  encryptionKeyAlg?: string;
  /** The suite's `resource.cdrVersion`: sent as `x-v` on resource calls (CDR). */
  cdrVersion?: string;
  /** Discovery members of the ecosystem's own standard, named to the suite (its `server.allow_unexpected_metadata_fields`). */
  metadataExtensions?: string[];
  /** The scope the gateway registers for the clients when it is wider than what the suite asks for (`scope`). */
  clientScope?: string;
  /** Open Finance Brasil: the suite creates a consent before every authorization (resource.consentUrl, resource.brazilCpf). */
  brazil?: { productType: 'personal' | 'business' };
  /** The suite registers its client (Brazil DCR, conformance/brazil-dcr.ts): no static clients. */
  dcr?: boolean;
}

export const BASELINE_PROFILE = 'fapi2';
export const profileOf = (variant: ConformanceVariant): string => variant.profile ?? BASELINE_PROFILE;

const SP_BASE = { sender_constrain: 'mtls', openid: 'openid_connect', fapi_profile: 'plain_fapi' };

function spVariant(clientAuth: ClientAuth, kind: 'oidc' | 'oauth' | 'ccg'): ConformanceVariant {
  const short = clientAuth === 'mtls' ? 'mtls' : 'pkj';
  const suffix = kind === 'oidc' ? '' : `-${kind}`;
  const suiteVariant = { client_auth_type: clientAuth, ...SP_BASE };
  if (kind === 'oauth') suiteVariant.openid = 'plain_oauth';
  if (kind === 'ccg') Object.assign(suiteVariant, { openid: 'plain_oauth', fapi_profile: 'fapi_client_credentials_grant' });
  return {
    plan: 'fapi2-security-profile',
    name: `${clientAuth}${kind === 'oidc' ? '' : kind === 'oauth' ? '-plain_oauth' : '-client_credentials'}`,
    clientAuth,
    suiteVariant,
    alias: `fapi-gw-${short}${suffix}`,
    clientPrefix: `conf-${short}${suffix}`,
    scope: kind === 'oidc' ? 'openid profile accounts' : 'accounts',
    grantTypes: kind === 'ccg' ? ['client_credentials'] : ['authorization_code', 'refresh_token'],
    browser: kind !== 'ccg',
    profile: 'fapi2',
  };
}

/**
 * The whole Message Signing plan: signed request objects at PAR and JARM responses (the suite sends
 * `response_mode=jwt` and validates every authorization response as a JWT). The profile requires
 * signed request objects, so the plan's unsigned-request JARM variant has no place on it.
 */
function msJarmVariant(clientAuth: ClientAuth): ConformanceVariant {
  const short = clientAuth === 'mtls' ? 'mtls' : 'pkj';
  return {
    plan: 'fapi2-message-signing',
    name: `ms-${short}-jar-jarm`,
    clientAuth,
    suiteVariant: { client_auth_type: clientAuth, ...SP_BASE, fapi_request_method: 'signed_non_repudiation', fapi_response_mode: 'jarm' },
    alias: `fapi-gw-ms-${short}-jar-jarm`,
    clientPrefix: `conf-ms-${short}-jar-jarm`,
    scope: 'openid profile accounts',
    grantTypes: ['authorization_code', 'refresh_token'],
    browser: true,
    profile: 'fapi2-message-signing',
    clientMetadata: { require_signed_request_object: true },
  };
}

/**
 * FAPI 2.0 Message Signing with signed request objects at PAR (JAR) and plain responses: the gateway
 * on the fapi2-message-signing profile, both clients requiring signed request objects (RFC 9101 §10.5).
 */
function msJarVariant(clientAuth: ClientAuth): ConformanceVariant {
  const short = clientAuth === 'mtls' ? 'mtls' : 'pkj';
  return {
    plan: 'fapi2-message-signing',
    name: `ms-${short}-jar`,
    clientAuth,
    suiteVariant: { client_auth_type: clientAuth, ...SP_BASE, fapi_request_method: 'signed_non_repudiation', fapi_response_mode: 'plain_response' },
    alias: `fapi-gw-ms-${short}-jar`,
    clientPrefix: `conf-ms-${short}-jar`,
    scope: 'openid profile accounts',
    grantTypes: ['authorization_code', 'refresh_token'],
    browser: true,
    profile: 'fapi2-message-signing',
    clientMetadata: { require_signed_request_object: true },
  };
}

/**
 * `sender_constrain=dpop`: tokens bound to DPoP keys. With private_key_jwt the suite offers no client
 * certificate and calls discovery's plain endpoints, so its resource is the route on the public
 * listener; with mtls it authenticates by certificate at the mTLS aliases, and calls the route there.
 */
function dpopVariant(clientAuth: ClientAuth): ConformanceVariant {
  const base = spVariant(clientAuth, 'oidc');
  const short = clientAuth === 'mtls' ? 'mtls' : 'pkj';
  return {
    ...base,
    name: `${clientAuth}-dpop`,
    suiteVariant: { ...base.suiteVariant, sender_constrain: 'dpop' },
    alias: `fapi-gw-${short}-dpop`,
    clientPrefix: `conf-${short}-dpop`,
    dpop: true,
  };
}

/**
 * The Consumer Data Right data holder (profile cdr), as the suite's AU-CDR profile checks it: the
 * suite asks for `acr` urn:cds.au:cdr:2 and a sharing_duration in `claims`, expects ID tokens encrypted
 * to the client's RSA key (registered with id_token_encrypted_response_alg/enc), and sends the CDS
 * headers (x-v ...) on resource calls. The suite refuses JARM with AU-CDR, so JAR + plain responses.
 * The SP plan sends unsigned requests, which profile cdr refuses; it runs against `cdr-sp` (profile cdr
 * with request objects optional, written by configs.ts) for everything else.
 */
function cdrVariant(plan: 'sp' | 'ms'): ConformanceVariant {
  const signed = plan === 'ms';
  return {
    plan: signed ? 'fapi2-message-signing' : 'fapi2-security-profile',
    name: signed ? 'cdr-ms-pkj-jar' : 'cdr-pkj',
    clientAuth: 'private_key_jwt',
    suiteVariant: {
      client_auth_type: 'private_key_jwt',
      ...SP_BASE,
      fapi_profile: 'consumerdataright_au',
      ...(signed ? { fapi_request_method: 'signed_non_repudiation', fapi_response_mode: 'plain_response' } : {}),
    },
    alias: signed ? 'fapi-gw-cdr-ms-pkj-jar' : 'fapi-gw-cdr-pkj',
    clientPrefix: signed ? 'conf-cdr-ms-pkj-jar' : 'conf-cdr-pkj',
    scope: 'openid profile bank:accounts.basic:read',
    grantTypes: ['authorization_code', 'refresh_token'],
    browser: true,
    profile: signed ? 'cdr' : CDR_SP_PROFILE,
    clientMetadata: {
      ...(signed ? { require_signed_request_object: true } : {}),
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    },
    encryptionKeys: true,
    cdrVersion: '1',
    // The CDS's own discovery member: the suite warns about members it does not know unless told.
    metadataExtensions: ['cdr_arrangement_revocation_endpoint'],
  };
}

/** Profile cdr with request objects optional, for the SP plan's unsigned requests (see cdrVariant). */
export const CDR_SP_PROFILE = 'cdr-sp';

/**
 * `fapi_profile=openbanking_brazil` on the gateway's `brazil` profile: private_key_jwt only (the
 * profile offers no tls_client_auth), mTLS-bound tokens, a consent created by the suite with a
 * client_credentials token (scope `consents`) before every authorization, `consent:<id>` in the scope.
 */
function brazilVariant(): ConformanceVariant {
  return {
    plan: 'fapi2-security-profile',
    name: 'brazil-private_key_jwt',
    clientAuth: 'private_key_jwt',
    suiteVariant: { client_auth_type: 'private_key_jwt', sender_constrain: 'mtls', openid: 'openid_connect', fapi_profile: 'openbanking_brazil' },
    alias: 'fapi-gw-brazil-pkj',
    clientPrefix: 'conf-brazil-pkj',
    scope: 'openid accounts',
    clientScope: 'openid accounts consents resources',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    browser: true,
    profile: 'brazil',
    brazil: { productType: 'personal' },
  };
}

/**
 * FAPI 1.0 Advanced (final), how CDR and Brazil certify today (PLANS.md (e)), on the same profiles as
 * their FAPI 2.0 runs: PAR with signed request objects, private_key_jwt, mTLS-bound tokens. The
 * clients register the FAPI 1.0 way, which puts them under the profile's `fapi1Advanced` rules. CDR:
 * `code` with JARM (the clients register authorization_signed_response_alg). Brazil: the hybrid
 * `code id_token` with the front-channel ID token encrypted (RSA-OAEP, A256GCM) to the client's key,
 * a consent created by the suite before every authorization.
 */
function fapi1Variant(ecosystem: 'cdr' | 'brazil'): ConformanceVariant {
  const common = {
    plan: 'fapi1-advanced' as const,
    name: `${ecosystem}-fapi1`,
    clientAuth: 'private_key_jwt' as const,
    alias: `fapi-gw-${ecosystem}-fapi1`,
    clientPrefix: `conf-${ecosystem}-fapi1`,
    browser: true,
    profile: ecosystem,
  };
  if (ecosystem === 'cdr')
    return {
      ...common,
      suiteVariant: { client_auth_type: 'private_key_jwt', fapi_profile: 'consumerdataright_au', fapi_response_mode: 'jarm', fapi_auth_request_method: 'pushed' },
      scope: 'openid profile bank:accounts.basic:read',
      grantTypes: ['authorization_code', 'refresh_token'],
      clientMetadata: { require_signed_request_object: true, authorization_signed_response_alg: 'PS256' },
      cdrVersion: '1',
      metadataExtensions: ['cdr_arrangement_revocation_endpoint'],
    };
  return {
    ...common,
    suiteVariant: { client_auth_type: 'private_key_jwt', fapi_profile: 'openbanking_brazil', fapi_response_mode: 'plain_response', fapi_auth_request_method: 'pushed' },
    scope: 'openid accounts',
    clientScope: 'openid accounts consents resources',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    clientMetadata: {
      require_signed_request_object: true,
      response_types: ['code id_token'],
      id_token_encrypted_response_alg: 'RSA-OAEP',
      id_token_encrypted_response_enc: 'A256GCM',
    },
    encryptionKeys: true,
    encryptionKeyAlg: 'RSA-OAEP',
    brazil: { productType: 'personal' },
  };
}

/** Every plan and variant the project ships and keeps green. */
export const VARIANTS: ConformanceVariant[] = [
  spVariant('private_key_jwt', 'oidc'),
  spVariant('mtls', 'oidc'),
  spVariant('private_key_jwt', 'oauth'),
  spVariant('mtls', 'oauth'),
  spVariant('private_key_jwt', 'ccg'),
  spVariant('mtls', 'ccg'),
  msJarVariant('private_key_jwt'),
  msJarVariant('mtls'),
  msJarmVariant('private_key_jwt'),
  msJarmVariant('mtls'),
  dpopVariant('private_key_jwt'),
  dpopVariant('mtls'),
  cdrVariant('ms'),
  cdrVariant('sp'),
  brazilVariant(),
  fapi1Variant('cdr'),
  fapi1Variant('brazil'),
];

/** The suite's plan selection string, e.g. `fapi2-security-profile-final-test-plan[client_auth_type=mtls]...`. */
export function suitePlanSpec(variant: ConformanceVariant, modules: string[] = []): string {
  const selection = Object.entries(variant.suiteVariant).map(([k, v]) => `[${k}=${v}]`).join('');
  return `${PLANS[variant.plan]}${selection}${modules.length ? `:${modules.join(',')}` : ''}`;
}

/** PEM texts and private JWKS of the run's PKI (generated by pki.ts, or a bank's own). */
export interface ConformancePki {
  /** CA that issued the client certificates (and, locally, the server certificate). */
  caPem: string;
  clients: Record<1 | 2, { certPem: string; keyPem: string; jwks: { keys: Record<string, unknown>[] }; encryptionJwks?: { keys: Record<string, unknown>[] } }>;
}

/** File paths the gateway config points at, relative to the config's folder or absolute. */
export interface GatewayFiles {
  serverCert: string;
  serverKey: string;
  clientCa: string;
  signingKeys: string;
}

export const USER = { username: 'alice', sub: 'alice-7f3c' } as const;
/** The test user's CPF (Brazil runs): the suite's consents name it, and the login must match it. */
export const BRAZIL_CPF = '76109277673';
export const BRAZIL_CONSENTS_PATH = '/open-banking/consents/v3/consents';
export const DEFAULT_PASSWORD = 'conformance-pw';

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']);
export function publicJwks(jwks: { keys: Record<string, unknown>[] }): { keys: Record<string, unknown>[] } {
  return { keys: jwks.keys.map((k) => Object.fromEntries(Object.entries(k).filter(([m]) => !PRIVATE_MEMBERS.has(m)))) };
}

/** RFC 4514 subject DN of a certificate (node prints one RDN per line, most significant first). */
export function subjectDn(certPem: string): string {
  return new X509Certificate(certPem).subject.split('\n').reverse().join(',');
}

export function callbackUrl(endpoints: Endpoints, alias: string): string {
  return `${endpoints.suiteBase}/test/a/${alias}/callback`;
}

/** The suite sends both the bare callback and one with a query (to check exact matching). */
export function redirectUris(endpoints: Endpoints, alias: string): string[] {
  const callback = callbackUrl(endpoints, alias);
  return [callback, `${callback}?dummy1=lorem&dummy2=ipsum`];
}

/** The gateway clients one variant needs: two of its auth method, redirecting to the variant's alias. */
export function gatewayClients(variant: ConformanceVariant, pki: ConformancePki, endpoints: Endpoints): Record<string, unknown>[] {
  return ([1, 2] as const).map((n) => ({
    client_id: `${variant.clientPrefix}-${n}`,
    client_name: `Conformance suite ${variant.name} client ${n}`,
    ...(variant.clientAuth === 'mtls'
      ? { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: subjectDn(pki.clients[n].certPem) }
      : { token_endpoint_auth_method: 'private_key_jwt' }),
    jwks: publicJwks(clientJwks(variant, pki, n)),
    ...(variant.browser ? { redirect_uris: redirectUris(endpoints, variant.alias) } : {}),
    scope: variant.clientScope ?? variant.scope,
    grant_types: variant.grantTypes,
    ...(variant.dpop ? { dpop_bound_access_tokens: true } : {}),
    ...variant.clientMetadata,
  }));
}

/** A client's private JWKS for a variant: the signing key, and its encryption key where the variant wants one. */
function clientJwks(variant: ConformanceVariant, pki: ConformancePki, n: 1 | 2): { keys: Record<string, unknown>[] } {
  const enc = (variant.encryptionKeys ? pki.clients[n].encryptionJwks?.keys ?? [] : []).map((k) => (variant.encryptionKeyAlg ? { ...k, alg: variant.encryptionKeyAlg } : k));
  if (variant.encryptionKeys && enc.length === 0) throw new Error(`variant ${variant.name} needs the clients' encryption keys (client${n}-enc.jwks.json)`);
  return { keys: [...pki.clients[n].jwks.keys, ...enc] };
}

/** The resource URL the suite calls: the route on the listener its calls go to (see dpopVariant). */
export function resourceUrl(variant: ConformanceVariant, endpoints: Endpoints): string {
  return `${variant.dpop && variant.clientAuth === 'private_key_jwt' ? endpoints.issuer : endpoints.mtlsBase}/accounts`;
}

/**
 * The gateway config of a local run on one profile (the baseline unless told): the clients of every
 * variant on that profile, one user, one resource route to the sample bank.
 */
export function gatewayConfig(options: {
  pki: ConformancePki;
  files: GatewayFiles;
  ports?: Ports;
  password?: string;
  variants?: ConformanceVariant[];
  profile?: string;
}): Record<string, unknown> {
  const profile = options.profile ?? BASELINE_PROFILE;
  const ports = options.ports ?? DEFAULT_PORTS;
  const endpoints = localEndpoints(ports);
  const onProfile = (options.variants ?? VARIANTS).filter((v) => profileOf(v) === profile);
  const cdr = profile === 'cdr' || profile === CDR_SP_PROFILE || onProfile.some((v) => v.cdrVersion !== undefined);
  const brazil = onProfile.some((v) => v.brazil);
  return {
    issuer: endpoints.issuer,
    profile,
    listeners: {
      public: { host: '127.0.0.1', port: ports.gatewayPublic },
      mtls: { host: '127.0.0.1', port: ports.gatewayMtls, url: endpoints.mtlsBase },
      ops: { host: '127.0.0.1', port: ports.gatewayOps },
    },
    tls: { cert: options.files.serverCert, key: options.files.serverKey, clientCAs: [options.files.clientCa] },
    keys: { signing: options.files.signingKeys },
    store: { type: 'memory' },
    users: [{
      // Outside NODE_ENV=development only scrypt hashes are accepted.
      username: USER.username, passwordHash: hashPasswordSync(options.password ?? DEFAULT_PASSWORD), sub: USER.sub,
      claims: { name: 'Alice Example', given_name: 'Alice', family_name: 'Example', email: 'alice@example.com', email_verified: true, ...(brazil ? { cpf: BRAZIL_CPF } : {}) },
    }],
    ...(brazil
      ? { ecosystem: { bankUrnPrefix: 'fapigateway', consents: { accounts: { [USER.sub]: [{ id: 'acc-0001', label: 'Conta corrente 0001' }, { id: 'acc-0002', label: 'Poupança 0002' }] } } } }
      : {}),
    clients: onProfile.flatMap((v) => gatewayClients(v, options.pki, endpoints)),
    // The suite's DPoP client without a certificate reads discovery's plain fields (see dpopVariant).
    ...(onProfile.some((v) => v.dpop && v.clientAuth === 'private_key_jwt') ? { discovery: { plainEndpoints: 'public' } } : {}),
    routes: [{ prefix: '/accounts', upstream: `http://127.0.0.1:${ports.bank}`, scopes: [cdr ? 'bank:accounts.basic:read' : 'accounts'], methods: ['GET'], timeoutMs: 10000 }],
    // The CDR pack: pairwise subjects need a secret, outbound notices the holder's brand id.
    ...(cdr ? { subjects: { pairwiseSecret: 'conformance-pairwise-secret-0123456789abcdef' }, ecosystem: { brandId: 'conformance-brand' } } : {}),
    log: { level: 'warn' },
  };
}

/**
 * How the suite's browser (HtmlUnit inside the suite) gets through the login and consent pages. A bank
 * with its own login in front replaces `loginTasks` (see docs/conformance.md).
 */
export interface BrowserPages {
  /** Glob over the whole URL of every page the user sees on the authorization server's side. */
  pagesMatch: string;
  /** Glob of the first URL the suite opens (the authorization endpoint). */
  authorizeMatch: string;
  username: string;
  password: string;
}

type Task = Record<string, unknown>;

export function browserTasks(pages: BrowserPages, endpoints: Endpoints) {
  const loginTasks: Task[] = [
    { task: 'Login', optional: true, match: pages.pagesMatch, commands: [
      ['text', 'id', 'username', pages.username, 'optional'],
      ['text', 'id', 'password', pages.password, 'optional'],
      ['click', 'css', 'button[value=login]', 'optional'],
    ] },
    { task: 'Consent', optional: true, match: pages.pagesMatch, commands: [['click', 'css', 'button[value=approve]', 'optional']] },
  ];
  // An error page shown instead of a redirect: captured as the screenshot the test asks for (REVIEW).
  const errorPage: Task = { task: 'Error page', optional: true, match: pages.pagesMatch, commands: [
    ['wait', 'xpath', '//*', 10, '.*(cannot be completed|Error code).*', 'update-image-placeholder-optional'],
  ] };
  // Anchored on the suite's base URL: a bare `*/test/*/callback*` also matches the authorization
  // request, whose redirect_uri parameter holds the callback.
  const verifyComplete: Task = { task: 'Verify Complete', optional: true, match: `${endpoints.suiteBase}/test/*/callback*`, commands: [['wait', 'id', 'submission_complete', 10]] };
  const browser = [{ comment: 'login + consent, or an error page, or an immediate redirect back', match: pages.authorizeMatch, tasks: [...loginTasks, errorPage, verifyComplete] }];
  const reject = [{ comment: 'cancel on the login page (or deny on the consent page)', match: pages.authorizeMatch, tasks: [
    { task: 'Reject', optional: true, match: pages.pagesMatch, commands: [
      ['click', 'css', 'button[value=cancel]', 'optional'],
      ['click', 'css', 'button[value=deny]', 'optional'],
    ] },
    errorPage, verifyComplete,
  ] }];
  // First visit only looks at the login page; the second (same request_uri) logs in.
  const reuseBeforeAuth = [
    { comment: 'first visit: look at the login page, do nothing', match: pages.authorizeMatch, 'match-limit': 1, tasks: [
      { task: 'First visit, no login', optional: true, match: pages.pagesMatch, commands: [['wait', 'id', 'username', 10]] },
    ] },
    // No screenshot of the login page: its placeholder is for an error page. Filled while the flow
    // goes on, it let the suite's placeholder watcher end the module between the callback and the
    // callback page's submission (INTERRUPTED, "runInBackground called after
    // runFinalisationTaskInBackground()"); left alone, the completed flow ends the module.
    { comment: 'second visit: log in', match: pages.authorizeMatch, tasks: [...loginTasks, errorPage, verifyComplete] },
  ];
  return {
    browser,
    override: {
      'fapi2-security-profile-final-user-rejects-authentication': { browser: reject },
      'fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds': { browser: reuseBeforeAuth },
      'fapi1-advanced-final-user-rejects-authentication': { browser: reject },
      'fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds': { browser: reuseBeforeAuth },
    },
  };
}

/** The suite's test config for one variant. */
export function suiteConfig(variant: ConformanceVariant, pki: ConformancePki, options: {
  endpoints: Endpoints;
  /** The resource the suite calls with its access tokens (default: the gateway's `/accounts` route). */
  resourceUrl?: string;
  pages?: BrowserPages;
}): Record<string, unknown> {
  const { endpoints } = options;
  const pages = options.pages ?? { pagesMatch: `${endpoints.issuer}/*`, authorizeMatch: `${endpoints.issuer}/authorize*`, username: USER.username, password: DEFAULT_PASSWORD };
  const mtls = (n: 1 | 2) => ({ cert: pki.clients[n].certPem, key: pki.clients[n].keyPem, ca: pki.caPem });
  return {
    alias: variant.alias,
    description: `fapi-gateway ${variant.name}: ${suitePlanSpec(variant)}`,
    server: {
      discoveryUrl: `${endpoints.issuer}/.well-known/openid-configuration`,
      ...(variant.metadataExtensions ? { allow_unexpected_metadata_fields: variant.metadataExtensions } : {}),
    },
    client: { client_id: `${variant.clientPrefix}-1`, scope: variant.scope, jwks: clientJwks(variant, pki, 1) },
    client2: { client_id: `${variant.clientPrefix}-2`, scope: variant.scope, jwks: clientJwks(variant, pki, 2) },
    // private_key_jwt with DPoP: the suite offers no certificate (PLANS: "mtls only for client_auth_type=mtls").
    ...(variant.dpop && variant.clientAuth === 'private_key_jwt' ? {} : { mtls: mtls(1), mtls2: mtls(2) }),
    resource: {
      resourceUrl: options.resourceUrl ?? resourceUrl(variant, endpoints),
      ...(variant.cdrVersion ? { cdrVersion: variant.cdrVersion } : {}),
      ...(variant.brazil ? { consentUrl: `${endpoints.mtlsBase}${BRAZIL_CONSENTS_PATH}`, brazilCpf: BRAZIL_CPF } : {}),
    },
    ...(variant.brazil ? { consent: { productType: variant.brazil.productType } } : {}),
    ...(variant.browser ? browserTasks(pages, endpoints) : {}),
  };
}
