/**
 * The suite's Brazil DCR plan (`fapi2-security-profile-final-brazil-dcr-test-plan`) on loopback: its
 * variants, the gateway config (profile brazil, registration trusting the stand-in Directory) and
 * the suite config (the Directory's URLs, the Brazil-style certificate, the software's keys). Kept
 * apart from VARIANTS: the suite registers its own client, so none of the static-client checks apply.
 */
import { readFile } from 'node:fs/promises';
import { DEFAULT_PASSWORD, USER, browserTasks, gatewayConfig, redirectUris, type ConformancePki, type ConformanceVariant, type Endpoints, type GatewayFiles, type Ports } from './description.js';
import { DIRECTORY_CLIENT_ID, DIRECTORY_ISSUER, type BrazilDcrFiles } from './brazil-directory.js';

export const BRAZIL_PROFILE = 'brazil';
/** A CPF the suite's consent names; the gateway's user carries it. */
export const BRAZIL_CPF = '76109277673';

function brazilDcrVariant(clientAuth: 'private_key_jwt'): ConformanceVariant {
  const short = 'pkj';
  return {
    plan: 'brazil-dcr',
    name: `brazil-dcr-${short}`,
    clientAuth,
    // The plan fixes fapi_profile=openbanking_brazil and has no default for the two request/response choices.
    suiteVariant: { client_auth_type: clientAuth, sender_constrain: 'mtls', openid: 'openid_connect', fapi_request_method: 'unsigned', fapi_response_mode: 'plain_response' },
    alias: `fapi-gw-br-dcr-${short}`,
    clientPrefix: `conf-br-dcr-${short}`,
    scope: 'openid accounts consents resources',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    browser: true,
    profile: BRAZIL_PROFILE,
    dcr: true,
  };
}

/**
 * The plan's `client_auth_type=mtls` is not run: it registers `tls_client_auth` clients, which
 * `profile: brazil` does not offer (private_key_jwt only, as OFB's FAPI 2.0 profile of the pack is
 * specified; see docs/brazil.md), so its registrations are refused by design.
 */
export const BRAZIL_DCR_VARIANTS: ConformanceVariant[] = [brazilDcrVariant('private_key_jwt')];

export const directoryBase = (ports: Ports) => `https://localhost:${ports.directory}`;

/** The gateway on profile brazil: registration on, the stand-in Directory trusted, a user with the CPF. */
export function brazilDcrGatewayConfig(options: { pki: ConformancePki; files: GatewayFiles; ports: Ports }): Record<string, unknown> {
  const base = gatewayConfig({ ...options, variants: [], profile: BRAZIL_PROFILE }) as Record<string, any>;
  const [user] = base.users;
  return {
    ...base,
    clients: [],
    users: [{ ...user, claims: { ...user.claims, cpf: BRAZIL_CPF } }],
    registration: {
      enabled: true,
      scopes: ['openid', 'accounts', 'consents', 'resources', 'payments'],
      // The stand-in Directory (statement keys, the software's jwks_uri) is on loopback.
      allowPrivateAddresses: ['127.0.0.0/8'],
      rateLimit: { perIpPerMinute: 1000, perMinute: 1000 },
    },
    ecosystem: { bankUrnPrefix: 'conformance-bank', directory: { issuer: DIRECTORY_ISSUER, jwksUri: `${directoryBase(options.ports)}/jwks` } },
  };
}

export async function brazilDcrSuiteConfig(variant: ConformanceVariant, pki: ConformancePki, brazil: BrazilDcrFiles, options: { endpoints: Endpoints; ports: Ports }): Promise<Record<string, unknown>> {
  const { endpoints } = options;
  const pages = { pagesMatch: `${endpoints.issuer}/*`, authorizeMatch: `${endpoints.issuer}/authorize*`, username: USER.username, password: DEFAULT_PASSWORD };
  return {
    alias: variant.alias,
    description: `fapi-gateway ${variant.name}`,
    server: { discoveryUrl: `${endpoints.issuer}/.well-known/openid-configuration` },
    client: { scope: variant.scope, jwks: JSON.parse(await readFile(brazil.clientJwks, 'utf8')) },
    mtls: { cert: await readFile(brazil.cert, 'utf8'), key: await readFile(brazil.key, 'utf8'), ca: pki.caPem },
    directory: { discoveryUrl: `${directoryBase(options.ports)}/.well-known/openid-configuration`, client_id: DIRECTORY_CLIENT_ID, apibase: `${directoryBase(options.ports)}/` },
    resource: {
      resourceUrl: `${endpoints.mtlsBase}/accounts`,
      consentUrl: `${endpoints.mtlsBase}/open-banking/consents/v3/consents`,
      brazilCpf: BRAZIL_CPF,
    },
    consent: { productType: 'personal' },
    ...browserTasks(pages, endpoints),
  };
}

/** The callbacks the stand-in's statements list. */
export const brazilDcrRedirectUris = (endpoints: Endpoints, variant: ConformanceVariant) => redirectUris(endpoints, variant.alias);
