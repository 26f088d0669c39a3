import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { FakeCdrRegister } from './cdr-register.js';

export const CDR_REDIRECTS = ['https://adr.example/cb', 'https://adr.example/cb2'];

/** A data recipient's software product: its keys (served at its jwks_uri by the fake Register's host) and ids. */
export interface Software {
  softwareId: string;
  legalEntityId: string;
  privateKey: CryptoKey;
  kid: string;
  jwksUri: string;
  clientId?: string;
}

/** A new software product, ACTIVE at the Register with an ACTIVE recipient. */
export async function newSoftware(register: FakeCdrRegister): Promise<Software> {
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  const kid = `sw-key-${randomUUID().slice(0, 8)}`;
  const jwksUri = register.serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' }] });
  const software = { softwareId: `sw-${randomUUID()}`, legalEntityId: `le-${randomUUID()}`, privateKey: privateKey as CryptoKey, kid, jwksUri };
  register.setProduct(software.softwareId, 'ACTIVE');
  register.setRecipient(software.legalEntityId, 'ACTIVE');
  return software;
}

/** The claims of a CDR software statement for `sw`. */
export function ssaClaims(sw: Software, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    legal_entity_id: sw.legalEntityId,
    legal_entity_name: 'Example Recipient',
    org_id: `org-${sw.softwareId}`,
    org_name: 'Example Brand',
    client_name: 'Example Software',
    client_description: 'Budgeting',
    client_uri: 'https://adr.example',
    redirect_uris: CDR_REDIRECTS,
    logo_uri: 'https://adr.example/logo.png',
    jwks_uri: sw.jwksUri,
    revocation_uri: 'https://adr.example/revoke',
    recipient_base_uri: 'https://adr.example',
    software_id: sw.softwareId,
    software_roles: 'data-recipient-software-product',
    scope: 'openid profile bank:accounts.basic:read bank:transactions:read cdr:registration',
    ...extra,
  };
}

/** The registration request JWT, signed by the software (iss = software_id, aud = the issuer). */
export async function registrationRequest(
  sw: Software,
  issuer: string,
  ssa: string,
  extra: Record<string, unknown> = {},
  key: { privateKey: CryptoKey; kid: string } = sw,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: sw.softwareId,
    aud: issuer,
    iat: now,
    exp: now + 60,
    jti: randomUUID(),
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: 'web',
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: 'PS256',
    redirect_uris: [CDR_REDIRECTS[0]],
    software_statement: ssa,
    ...extra,
  })
    .setProtectedHeader({ alg: 'PS256', kid: key.kid })
    .sign(key.privateKey);
}

/** A private_key_jwt client assertion of the registered software. */
export async function clientAssertion(sw: Software, aud: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: sw.clientId, sub: sw.clientId, aud, iat: now, exp: now + 60, jti: randomUUID() })
    .setProtectedHeader({ alg: 'PS256', kid: sw.kid })
    .sign(sw.privateKey);
}
