import type { x509 } from '../../../tls/x509.js';

const UID = '0.9.2342.19200300.100.1.1';
const ORGANIZATION_IDENTIFIER = '2.5.4.97';
const ORGANIZATIONAL_UNIT = '2.5.4.11';
/** organizationIdentifier = OFBBR-<organisation id> (the OFB certificate standard). */
const OFB_PREFIX = 'OFBBR-';

/** Who an Open Finance Brasil client certificate speaks for: the Directory's software and organisation ids. */
export interface CertificateIdentity {
  softwareId: string | undefined;
  organisationId: string | undefined;
}

/**
 * Reads the ids from the subject with @peculiar/x509: UID is the software id; the organisation id
 * is organizationIdentifier without its OFBBR- prefix, or, in certificates issued before 2022, the OU.
 */
export function certificateIdentity(cert: x509.X509Certificate): CertificateIdentity {
  const subject = cert.subjectName;
  const [softwareId] = subject.getField(UID);
  const identifier = subject.getField(ORGANIZATION_IDENTIFIER).find((v) => v.startsWith(OFB_PREFIX));
  const organisationId = identifier !== undefined ? identifier.slice(OFB_PREFIX.length) : subject.getField(ORGANIZATIONAL_UNIT)[0];
  return { softwareId: softwareId || undefined, organisationId: organisationId || undefined };
}
