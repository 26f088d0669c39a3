import { X509Certificate } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile } from '../config/schema.js';
import { fromDer, peerCertificate, type PeerCertificate } from './peer-certificate.js';

export type PeerCertificateSource = (req: IncomingMessage) => PeerCertificate | undefined;

type ForwardingConfig = NonNullable<ConfigFile['tls']['forwardedClientCertificate']>;

/**
 * Where a request's client certificate comes from: the TLS connection, or, behind an ingress that
 * terminates TLS, a header the ingress sets. The header is believed only on connections from the
 * configured proxy addresses; from anyone else it is ignored (and never passed upstream).
 */
export function peerCertificateSource(tls: ConfigFile['tls'], clientCAs: Buffer[]): PeerCertificateSource {
  const forwarding = tls.forwardedClientCertificate;
  if (!forwarding) return peerCertificate;
  const proxies = trustedProxies(forwarding.trustedProxies);
  const anchors = clientCAs.flatMap(splitPem).map((pem) => new X509Certificate(pem));
  const cache = new Map<string, PeerCertificate | null>();
  return (req) => {
    const remote = normalizeAddress(req.socket.remoteAddress);
    if (!remote || !proxies.check(remote, isIPv4(remote) ? 'ipv4' : 'ipv6')) return peerCertificate(req);
    const header = req.headers[forwarding.header];
    if (typeof header !== 'string' || header.length === 0) return undefined;
    // Proxies reuse connections for many clients, so the certificate is cached by header value.
    let found = cache.get(header);
    if (found === undefined) {
      found = parseForwarded(forwarding.header, header, anchors) ?? null;
      if (cache.size >= 1024) cache.delete(cache.keys().next().value!);
      cache.set(header, found);
    }
    return found ?? undefined;
  };
}

export function trustedProxies(cidrs: string[]): BlockList {
  const list = new BlockList();
  cidrs.forEach((cidr, i) => {
    const [address, bits] = cidr.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128))
      throw new ConfigError(`tls.forwardedClientCertificate.trustedProxies[${i}]`, `"${cidr}" is not an IP address or CIDR block`);
    list.addSubnet(address, prefix, type);
  });
  return list;
}

function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * ingress-nginx `ssl-client-cert`: the URL-encoded PEM. Envoy `x-forwarded-client-cert`: elements
 * separated by commas, one per proxy, the first describing the client; its `Cert="…"` is the
 * URL-encoded PEM.
 */
function parseForwarded(header: string, value: string, anchors: X509Certificate[]): PeerCertificate | undefined {
  let pem: string | undefined;
  try {
    if (header === 'ssl-client-cert') pem = decodeURIComponent(value);
    else pem = /(?:^|;)\s*Cert="?([^";,]+)"?/i.exec(value.split(',')[0])?.[1];
    if (pem && header !== 'ssl-client-cert') pem = decodeURIComponent(pem);
    if (!pem) return undefined;
    const cert = new X509Certificate(pem);
    return fromDer(cert.raw, chainsTo(cert, anchors), undefined);
  } catch {
    return undefined;
  }
}

/** The TLS handshake is not ours here, so the chain check is: issued and signed by a configured CA, and within validity. */
function chainsTo(cert: X509Certificate, anchors: X509Certificate[]): boolean {
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return false;
  return anchors.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

function splitPem(pem: Buffer): string[] {
  return pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
