import { x509 } from './x509.js';

/**
 * Distinguished names compared as RFC 8705 §2.1.2 asks (RFC 4517 distinguishedNameMatch): the same
 * RDNs in the same order, attribute types equal, values equal ignoring case and insignificant spaces.
 * A registered DN is an RFC 4514 string, which lists RDNs most specific first, i.e. in the reverse of
 * the certificate's ASN.1 order.
 */
export type NormalizedDn = string[];

export function normalizeDnString(dn: string): NormalizedDn {
  return normalizeRdns(new x509.Name(dn).toJSON());
}

export function normalizeCertificateSubject(cert: x509.X509Certificate): NormalizedDn {
  return normalizeRdns(cert.subjectName.toJSON()).reverse();
}

export function sameDn(a: NormalizedDn, b: NormalizedDn): boolean {
  return a.length === b.length && a.every((rdn, i) => rdn === b[i]);
}

function normalizeRdns(rdns: ReturnType<x509.Name['toJSON']>): NormalizedDn {
  return rdns.map((rdn) =>
    Object.entries(rdn)
      .flatMap(([type, values]) => values.map((v) => `${type.toUpperCase()}=${normalizeValue(v)}`))
      .sort()
      .join('+'),
  );
}

const normalizeValue = (value: string) => value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
