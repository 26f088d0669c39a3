import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { Agent } from 'undici';
import type { FakeDirectory } from './directory.js';
import { issueCertificate } from '../../src/devpki/pki.js';
import { issueTestClientCertificate } from './flow.js';
import type { Harness } from './harness.js';

/** ICP-Brasil subject attributes besides the OFB ids (ASN.1 order, most general first). */
const ICP_ATTRIBUTES = ['C=BR', 'O=ICP-Brasil', '2.5.4.15=Private Organization', '1.3.6.1.4.1.311.60.2.1.3=BR', '2.5.4.5=12345678000199'];

/**
 * A third party of Open Finance Brasil: its Directory ids, a client certificate from the test CA
 * whose subject carries them (UID = software id, organizationIdentifier = OFBBR-<org id>, or the
 * legacy OU), and its PS256 organisation keys published at a URL of the fake Directory.
 */
export interface Tpp {
  orgId: string;
  softwareId: string;
  cert: string;
  key: string;
  agent: Agent;
  privateKey: CryptoKey;
  kid: string;
  jwksUri: string;
  /** The subject as the conformance suite registers it (RFC 2253, unnamed types as #hex BER). */
  subjectDn: string;
}

const printableHex = (value: string) => `#13${value.length.toString(16).padStart(2, '0')}${Buffer.from(value).toString('hex')}`;

export async function brazilTpp(h: Harness, directory: FakeDirectory, options: { legacyOu?: boolean; uid?: string; orgIdInCert?: string; selfSigned?: boolean } = {}): Promise<Tpp> {
  const orgId = randomUUID();
  const softwareId = randomUUID();
  const certOrg = options.orgIdInCert ?? orgId;
  const uid = options.uid ?? softwareId;
  const orgAttribute = options.legacyOu ? `OU=${certOrg}` : `2.5.4.97=OFBBR-${certOrg}`;
  const subject = [...ICP_ATTRIBUTES, orgAttribute, `0.9.2342.19200300.100.1.1=${uid}`, 'CN=tpp.example'].join(', ');
  const { cert, key } = options.selfSigned
    ? await issueCertificate({ subject, usage: 'client' }).then((c) => ({ cert: c.certPem, key: c.keyPem }))
    : await issueTestClientCertificate(h, subject);
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  const kid = `org-${randomUUID().slice(0, 8)}`;
  const jwksUri = directory.serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' } as JWK] });
  const subjectDn = [
    'CN=tpp.example',
    `UID=${uid}`,
    options.legacyOu ? `OU=${certOrg}` : `2.5.4.97=${printableHex(`OFBBR-${certOrg}`)}`,
    `2.5.4.5=${printableHex('12345678000199')}`,
    `1.3.6.1.4.1.311.60.2.1.3=${printableHex('BR')}`,
    `2.5.4.15=${printableHex('Private Organization')}`,
    'O=ICP-Brasil',
    'C=BR',
  ].join(',');
  return { orgId, softwareId, cert, key, agent: h.agent({ cert, key }), privateKey: privateKey as CryptoKey, kid, jwksUri, subjectDn };
}

/** A software statement for `tpp` signed by the fake Directory (PS256). */
export function softwareStatement(directory: FakeDirectory, tpp: Tpp, claims: Record<string, unknown> = {}, options: Parameters<FakeDirectory['statement']>[1] = {}): Promise<string> {
  return directory.statement(
    {
      software_id: tpp.softwareId,
      org_id: tpp.orgId,
      org_status: 'Active',
      software_client_name: 'TPP Example',
      software_jwks_uri: tpp.jwksUri,
      software_redirect_uris: ['https://tpp.example/cb', 'https://tpp.example/cb2'],
      software_statement_roles: [
        { role: 'DADOS', authorisation_domain: 'Open Banking', status: 'Active' },
        { role: 'PAGTO', authorisation_domain: 'Open Banking', status: 'Active' },
      ],
      ...claims,
    },
    options,
  );
}

/** A JWT signed by the TPP's organisation key (or `key`), as OFB message signing asks. */
export function signedByTpp(tpp: Tpp, claims: JWTPayload, options: { alg?: string; key?: CryptoKey; kid?: string } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'PS256', kid: options.kid ?? tpp.kid, typ: 'JWT' }).sign(options.key ?? tpp.privateKey);
}
