import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { CONSENT_PLACEHOLDER, type ConsentCreation } from './flow-targets.js';
import type { GatewayStartOptions, SigningAlg } from './gateway.js';
import { CLIENT_ID, flowMaterial, presignAssertions, REDIRECT_URI, type FlowMaterial, type RequestShape } from './oauth-client.js';
import type { BenchPki } from './pki.js';

/** The complete flows `bench:redis` runs: the FAPI 2.0 baseline and the two ecosystem packs. */
export const FLOW_KINDS = ['fapi2', 'cdr', 'brazil'] as const;
export type FlowKind = (typeof FLOW_KINDS)[number];

/** How one kind of flow is set up: the gateway's config, what the client signs with, what each flow sends. */
export interface FlowSetup {
  kind: FlowKind;
  /** One line saying what the flow does beyond the baseline. */
  description: string;
  /** The algorithm the gateway signs tokens with. */
  alg: SigningAlg;
  start: Pick<GatewayStartOptions, 'configure'> & { consents?: ConsentCreation };
  /** Pre-signed material for `count` flows (assertions, pushed requests). */
  material(audience: string, count: number): Promise<FlowMaterial[]>;
}

const DAY = 86_400;
const CDR_SCOPE = 'openid profile bank:accounts.basic:read bank:transactions:read';
/** Alice's CPF: an OFB consent names the customer, and the login must be theirs. */
const ALICE_CPF = '76109277673';
const BRAZIL_PERMISSIONS = ['ACCOUNTS_READ', 'ACCOUNTS_BALANCES_READ', 'RESOURCES_READ', 'CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ'];

export async function flowSetup(kind: FlowKind, pki: BenchPki, alg: SigningAlg): Promise<FlowSetup> {
  if (kind === 'fapi2')
    return {
      kind,
      description: 'profile fapi2: PAR (form) → authorization (session, consent) → token',
      alg,
      start: {},
      material: (audience, count) => flowMaterial(pki.clientOne.jwk, audience, count),
    };
  if (kind === 'cdr') return cdrSetup(pki, alg);
  return brazilSetup(pki);
}

/**
 * profile cdr: client-one as a data recipient (private_key_jwt), a signed request object at PAR with
 * `claims.sharing_duration` (90 days) and an essential acr, so each flow creates an arrangement; ID
 * tokens carry the pairwise sub. No CDR Register is configured (the pack polls none), and the
 * revocation-notice poller is slowed to once a minute so that one flow's round trips are its own.
 */
function cdrSetup(pki: BenchPki, alg: SigningAlg): FlowSetup {
  const shape: RequestShape = {
    scope: CDR_SCOPE,
    claims: { sharing_duration: 90 * DAY, id_token: { acr: { essential: true, value: 'urn:cds.au:cdr:2' } } },
    responseMode: 'query',
  };
  return {
    kind: 'cdr',
    description: 'profile cdr: PAR (signed request object, sharing_duration) → authorization (session, consent, arrangement) → token (pairwise sub)',
    alg,
    start: {
      configure(config) {
        config.profile = 'cdr';
        config.subjects = { pairwiseSecret: 'a-bench-pairwise-secret-of-at-least-32-characters' };
        config.ecosystem = { brandId: 'bench-brand', recipients: { pollIntervalMs: 60_000 } };
        config.clients = [
          {
            client_id: CLIENT_ID,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks: { keys: [pki.clientOne.publicJwk] },
            redirect_uris: [REDIRECT_URI],
            scope: CDR_SCOPE,
            grant_types: ['authorization_code', 'refresh_token'],
          },
        ];
        config.routes = [];
      },
    },
    material: (audience, count) => flowMaterial(pki.clientOne.jwk, audience, count, true, shape),
  };
}

/**
 * profile brazil (PS256 only): client-one with a PS256 key, Alice with a CPF and one account to
 * choose. Each flow creates its consent (`POST /open-banking/consents/v3/consents` with a
 * client_credentials token got once), pushes `consent:<id>`, approves it choosing the account, and
 * redeems the code.
 */
async function brazilSetup(pki: BenchPki): Promise<FlowSetup> {
  const { privateKey, publicKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  const kid = 'client-one-ps256';
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'PS256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' };
  // The profile signs with PS256 only: a key file holding the dev PS256 key alone.
  const keys = JSON.parse(await readFile(pki.pki.signingKeys, 'utf8')) as { keys: JWK[] };
  const signingKeys = path.join(pki.dir, 'brazil-signing-keys.json');
  await writeFile(signingKeys, JSON.stringify({ keys: keys.keys.filter((k) => k.alg === 'PS256') }), { mode: 0o600 });
  const shape: RequestShape = { scope: `openid accounts consent:${CONSENT_PLACEHOLDER}` };
  return {
    kind: 'brazil',
    description: 'profile brazil: consent creation → PAR (consent:<id>) → authorization (session, consent with an account) → token',
    alg: 'PS256',
    start: {
      configure(config) {
        config.profile = 'brazil';
        config.keys = { signing: signingKeys, active: ['dev-ps256-1'] };
        config.ecosystem = { bankUrnPrefix: 'bancobench', consents: { accounts: { 'alice-7f3c': [{ id: 'acc-0001', label: 'Conta corrente 0001' }] } } };
        config.users[0].claims = { ...config.users[0].claims, cpf: ALICE_CPF };
        config.clients = [
          {
            client_id: CLIENT_ID,
            token_endpoint_auth_method: 'private_key_jwt',
            jwks: { keys: [publicJwk] },
            redirect_uris: [REDIRECT_URI],
            scope: 'openid accounts consents resources',
            grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
          },
        ];
        config.routes = [];
      },
      consents: {
        path: '/open-banking/consents/v3/consents',
        body: JSON.stringify({ data: { loggedUser: { document: { identification: ALICE_CPF, rel: 'CPF' } }, permissions: BRAZIL_PERMISSIONS } }),
        assertion: async (audience) => (await presignAssertions(jwk, audience, 1))[0],
      },
    },
    material: (audience, count) => flowMaterial(jwk, audience, count, false, shape),
  };
}
