import { x509 } from './x509.js';

/** Why a presented certificate cannot serve as a client certificate (a ClientAuthError reason). */
export type CertificateProblem =
  | 'certificate_expired'
  | 'certificate_not_yet_valid'
  | 'ca_certificate'
  | 'not_for_client_auth'
  | 'unparseable_certificate';

export const PROBLEM_DESCRIPTIONS: Record<CertificateProblem, string> = {
  certificate_expired: 'the client certificate has expired',
  certificate_not_yet_valid: 'the client certificate is not yet valid',
  ca_certificate: 'a CA certificate cannot be a client certificate',
  not_for_client_auth: 'the client certificate is not for TLS client authentication',
  unparseable_certificate: 'the client certificate cannot be read',
};

/** The time window in which a certificate (and, where known, its chain) is valid, in ms since the epoch. */
export interface ValidityWindow {
  notBefore: number;
  notAfter: number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The rules a certificate's extensions must meet to authenticate a TLS client, the same for a
 * certificate from our own handshake and one forwarded by a proxy. They are OpenSSL's `sslclient`
 * purpose, which our handshake applies to CA-issued chains: an extended key usage, when present,
 * must include clientAuth; a key usage, when present, must allow digitalSignature or keyAgreement.
 * Beyond OpenSSL, a CA (basicConstraints CA:TRUE) is never a client's leaf certificate: a CA key
 * is not meant to authenticate as a client, and would otherwise pass for any of its subjects.
 */
export function extensionProblem(cert: x509.X509Certificate): CertificateProblem | undefined {
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) return 'ca_certificate';
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku && !eku.usages.map(String).includes(CLIENT_AUTH)) return 'not_for_client_auth';
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & (x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement))) return 'not_for_client_auth';
  return undefined;
}

/** Checked at every use, never cached: a certificate valid when first seen expires while it is remembered. */
export function validityProblem(window: ValidityWindow, now: number): CertificateProblem | undefined {
  if (now < window.notBefore) return 'certificate_not_yet_valid';
  if (now > window.notAfter) return 'certificate_expired';
  return undefined;
}

/** The window in which every certificate given is valid. */
export function commonWindow(...windows: ValidityWindow[]): ValidityWindow {
  return {
    notBefore: Math.max(...windows.map((w) => w.notBefore)),
    notAfter: Math.min(...windows.map((w) => w.notAfter)),
  };
}
