import { randomBytes, webcrypto } from 'node:crypto';
import { x509 } from '../tls/x509.js';

/** Certificates for development and tests only: a throw-away CA that issues server and client certificates. */
export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const RSA_2048 = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export type KeyKind = 'ec' | 'rsa';

export interface CertificateRequest {
  /** The subject in ASN.1 order (most general first, e.g. `C=AU, O=Bank, CN=client`). */
  subject: string;
  dns?: string[];
  ips?: string[];
  uris?: string[];
  emails?: string[];
  usage: 'server' | 'client';
  keyKind?: KeyKind;
  validDays?: number;
  notBefore?: Date;
  /** Tests only: marks the certificate CA:TRUE, which no client certificate may be. */
  basicConstraintsCa?: boolean;
}

export async function createCa(subject: string, keyKind: KeyKind = 'ec'): Promise<Issued> {
  const alg = keyKind === 'ec' ? EC_P256 : RSA_2048;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return finish(cert, keys);
}

/** Issues a certificate signed by `ca`, or self-signed when `ca` is omitted. */
export async function issueCertificate(request: CertificateRequest, ca?: Issued): Promise<Issued> {
  const alg = (request.keyKind ?? 'ec') === 'ec' ? EC_P256 : RSA_2048;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = [
    ...(request.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(request.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(request.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  const notBefore = request.notBefore ?? new Date(Date.now() - DAY);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(request.basicConstraintsCa ?? false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (alg === RSA_2048 ? x509.KeyUsageFlags.keyEncipherment : 0), true),
    new x509.ExtendedKeyUsageExtension([request.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const signer = ca ?? { cert: undefined, keys };
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: request.subject,
    issuer: ca ? ca.cert.subject : request.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (request.validDays ?? 825) * DAY),
    publicKey: keys.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: ca ? algorithmOf(ca) : alg,
    extensions,
  });
  return finish(cert, keys);
}

function algorithmOf(ca: Issued) {
  return ca.keys.privateKey.algorithm.name === 'ECDSA' ? EC_P256 : RSA_2048;
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { cert, keys, certPem: cert.toString('pem') + '\n', keyPem };
}

function serial(): string {
  // A positive 64-bit serial number.
  const bytes = randomBytes(8);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}
