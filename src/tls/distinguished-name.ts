import { x509 } from './x509.js';

/**
 * Distinguished names compared as RFC 8705 §2.1.2 asks (RFC 4517 distinguishedNameMatch): the same
 * RDNs in the same order, attribute types equal, values equal ignoring case and insignificant spaces.
 * A registered DN is an RFC 4514 string, which lists RDNs most specific first, i.e. in the reverse of
 * the certificate's ASN.1 order.
 *
 * Each RDN is kept as the JSON of its sorted [OID, value] pairs: attribute types compare by OID (so
 * `cn`, `CN` and `2.5.4.3` are one type) and no value can be mistaken for a separator.
 */
export type NormalizedDn = string[];

// RFC 4514 §3 names, plus those @peculiar/x509 prints for certificates and common certificate
// attributes. Looked up case-insensitively; any other type must be given as a dotted OID.
const ATTRIBUTE_TYPES: Record<string, string> = {
  CN: '2.5.4.3',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  STREET: '2.5.4.9',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  E: '1.2.840.113549.1.9.1',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
  SN: '2.5.4.4',
  SURNAME: '2.5.4.4',
  G: '2.5.4.42',
  GN: '2.5.4.42',
  GIVENNAME: '2.5.4.42',
  I: '2.5.4.43',
  INITIALS: '2.5.4.43',
  T: '2.5.4.12',
  TITLE: '2.5.4.12',
  SERIALNUMBER: '2.5.4.5',
  BUSINESSCATEGORY: '2.5.4.15',
  POSTALCODE: '2.5.4.17',
  ORGANIZATIONIDENTIFIER: '2.5.4.97',
  // EV and ICP-Brasil certificates (OpenSSL prints jurisdictionC).
  JURISDICTIONC: '1.3.6.1.4.1.311.60.2.1.3',
  JURISDICTIONCOUNTRYNAME: '1.3.6.1.4.1.311.60.2.1.3',
  JURISDICTIONST: '1.3.6.1.4.1.311.60.2.1.2',
  JURISDICTIONL: '1.3.6.1.4.1.311.60.2.1.1',
};
const OID = /^\d+(\.\d+)+$/;

/** Parses an RFC 4514 string; throws on anything that is not one (an unparsed DN must never match). */
export function normalizeDnString(dn: string): NormalizedDn {
  return parseDn(dn).map(normalizeRdn);
}

export function normalizeCertificateSubject(cert: x509.X509Certificate): NormalizedDn {
  // @peculiar/x509 gives its own short names for known types, the dotted OID otherwise; a value
  // that is not a string type comes as `#` + hex of its BER encoding, as in RFC 4514.
  return cert.subjectName
    .toJSON()
    .map((rdn) => normalizeRdn(Object.entries(rdn).flatMap(([type, values]) => values.map((v) => [typeOid(type), v] as [string, string]))))
    .reverse();
}

export function sameDn(a: NormalizedDn, b: NormalizedDn): boolean {
  return a.length === b.length && a.every((rdn, i) => rdn === b[i]);
}

function normalizeRdn(attributes: [string, string][]): string {
  return JSON.stringify(attributes.map(([oid, value]) => [oid, normalizeValue(value)]).sort((x, y) => (x.join('=') < y.join('=') ? -1 : 1)));
}

const normalizeValue = (value: string) => value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * A `#hex` value (RFC 4514 §2.4: the BER encoding) compares by what it encodes (RFC 4517
 * distinguishedNameMatch): a string type becomes its string, as a certificate's value is read, so
 * `2.5.4.97=#0c0b4f464242522d...` matches `organizationIdentifier=OFBBR-...`. Decoded by @peculiar/x509
 * (a one-attribute Name written and read back); anything else stays hex.
 */
function berValue(oid: string, hex: string): string {
  try {
    const der = new x509.Name([{ [oid]: [hex] }]).toArrayBuffer();
    const [rdn] = new x509.Name(der).toJSON();
    const [value] = Object.values(rdn)[0] ?? [];
    return typeof value === 'string' ? value.toLowerCase() === hex ? hex : value : hex;
  } catch {
    return hex;
  }
}

function typeOid(type: string): string {
  const oid = OID.test(type) ? type : ATTRIBUTE_TYPES[type.toUpperCase()];
  if (!oid) throw new Error(`unknown attribute type "${type}"; give it as a dotted OID`);
  return oid;
}

/**
 * RFC 4514 §3 parsing: RDNs separated by `,`, attributes of a multi-valued RDN by `+`; values with
 * `\` escapes (a special character or two hex digits of UTF-8) or `#` + hex (BER). Spaces around
 * separators are tolerated (RFC 4514 §4 lets a parser accept other forms; `CN=x, O=y` is common).
 */
function parseDn(dn: string): [string, string][][] {
  const rdns: [string, string][][] = [];
  let rdn: [string, string][] = [];
  let i = 0;
  const skipSpaces = () => {
    while (dn[i] === ' ') i++;
  };
  if (dn.trim() === '') throw new Error('empty distinguished name');
  for (;;) {
    skipSpaces();
    const type = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)/.exec(dn.slice(i))?.[0];
    if (!type) throw new Error(`attribute type expected at position ${i}`);
    i += type.length;
    skipSpaces();
    if (dn[i] !== '=') throw new Error(`"=" expected at position ${i}`);
    i++;
    skipSpaces();
    let value: string;
    if (dn[i] === '#') {
      const hex = /^#((?:[0-9A-Fa-f]{2})+)/.exec(dn.slice(i));
      if (!hex) throw new Error(`hex value expected at position ${i}`);
      value = hex[0].toLowerCase();
      i += hex[0].length;
    } else {
      const bytes: number[] = [];
      while (i < dn.length && dn[i] !== ',' && dn[i] !== '+') {
        if (dn[i] === '\\') {
          const pair = /^[0-9A-Fa-f]{2}/.exec(dn.slice(i + 1))?.[0];
          if (pair) {
            bytes.push(parseInt(pair, 16));
            i += 3;
            continue;
          }
          if (i + 1 >= dn.length) throw new Error('dangling "\\" at the end');
          i++;
        } else if ('"<>;'.includes(dn[i])) {
          throw new Error(`"${dn[i]}" must be escaped (position ${i})`);
        }
        const char = String.fromCodePoint(dn.codePointAt(i)!);
        bytes.push(...Buffer.from(char, 'utf8'));
        i += char.length;
      }
      try {
        value = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
      } catch {
        throw new Error('a hex escape is not UTF-8');
      }
    }
    const oid = typeOid(type);
    rdn.push([oid, value.startsWith('#') ? berValue(oid, value) : value]);
    skipSpaces();
    if (i >= dn.length) break;
    if (dn[i] === ',') {
      rdns.push(rdn);
      rdn = [];
    } else if (dn[i] !== '+') {
      throw new Error(`"," or "+" expected at position ${i}`);
    }
    i++;
  }
  rdns.push(rdn);
  return rdns;
}
