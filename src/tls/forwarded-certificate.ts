import { X509Certificate } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { addressBlocks } from '../config/address-blocks.js';
import type { ConfigFile } from '../config/schema.js';
import { fromDer, peerCertificate, type PeerCertificate } from './peer-certificate.js';

export type PeerCertificateSource = (req: IncomingMessage) => PeerCertificate | undefined;

type ForwardingConfig = NonNullable<ConfigFile['tls']['forwardedClientCertificate']>;

/**
 * Where a request's client certificate comes from: the TLS connection, or, behind an ingress that
 * terminates TLS, a header the ingress sets. The header is believed only on connections from the
 * configured proxy addresses; from anyone else it is ignored (and never passed upstream).
 */
export function peerCertificateSource(tls: ConfigFile['tls'], clientCAs: () => Buffer[]): PeerCertificateSource {
  const forwarding = tls.forwardedClientCertificate;
  if (!forwarding) return peerCertificate;
  const proxies = addressBlocks(forwarding.trustedProxies, 'tls.forwardedClientCertificate.trustedProxies');
  let anchorsOf: Buffer[] | undefined;
  let anchors: X509Certificate[] = [];
  const cache = new Map<string, PeerCertificate | null>();
  return (req) => {
    // The client CAs may be reloaded: what was verified against the old ones is verified again.
    const current = clientCAs();
    if (current !== anchorsOf) {
      anchors = current.flatMap(splitPem).map((pem) => new X509Certificate(pem));
      anchorsOf = current;
      cache.clear();
    }
    const remote = normalizeAddress(req.socket.remoteAddress);
    if (!remote || !proxies.check(remote, isIPv4(remote) ? 'ipv4' : 'ipv6')) return peerCertificate(req);
    const values = req.headersDistinct[forwarding.header];
    if (!values || values.every((v) => v === '')) return undefined;
    const pem = forwardedPem(forwarding.header, values);
    if (pem === undefined) {
      refusedHeaders.add(req);
      return undefined;
    }
    // Proxies reuse connections for many clients, so the certificate is cached by its PEM. What is
    // cached does not depend on the time: validity is checked at every use (PeerCertificate.problem).
    let found = cache.get(pem);
    if (found === undefined) {
      found = readCertificate(pem, anchors) ?? null;
      if (cache.size >= 1024) cache.delete(cache.keys().next().value!);
      cache.set(pem, found);
    }
    return found ?? undefined;
  };
}

const refusedHeaders = new WeakSet<IncomingMessage>();

/**
 * True when the trusted proxy's header was present on this request but refused (ambiguous or
 * malformed): client authentication then names this reason rather than a missing certificate.
 */
export function forwardedHeaderRefused(req: IncomingMessage): boolean {
  return refusedHeaders.has(req);
}

function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * The PEM of the one certificate the trusted proxy vouches for, or undefined when there is none or
 * the header is ambiguous.
 *
 * ingress-nginx `ssl-client-cert`: the URL-encoded PEM of the client's certificate. Exactly one
 * header holding exactly one certificate: a repeated header or a second PEM block means something
 * other than the proxy wrote part of it, and which part is the proxy's cannot be told.
 *
 * Envoy `x-forwarded-client-cert`: elements separated by commas, one per proxy, each appended by the
 * proxy that received the connection. Only the last element is the trusted proxy's own; the ones
 * before it came with the request and may name anyone's (public) certificate. This needs Envoy's
 * `forward_client_cert_details` to be SANITIZE_SET or APPEND_FORWARD (docs/operations.md).
 */
function forwardedPem(header: string, values: string[]): string | undefined {
  if (values.length === 0) return undefined;
  let encoded: string | undefined;
  if (header === 'ssl-client-cert') {
    if (values.length !== 1) return undefined;
    encoded = values[0];
  } else {
    const last = parseXfcc(values.join(','))?.at(-1);
    const certs = last?.filter(([key]) => key.toLowerCase() === 'cert');
    if (!certs || certs.length !== 1) return undefined;
    encoded = certs[0][1];
  }
  let pem: string;
  try {
    pem = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  return /^\s*-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\s*$/.test(pem) ? pem : undefined;
}

/**
 * Envoy's XFCC syntax: elements separated by `,`, key=value pairs separated by `;`; a value holding
 * `,`, `;` or `=` is double-quoted, with `\"` for a quote inside. Undefined when malformed.
 *
 * Parsed strictly: a quote may only open a value (right after `=`) and close it (right before a
 * separator or the end). Whatever a client put before the proxy's element then cannot swallow it:
 * an unclosed quote in the client's part would end at the first quote of the proxy's element, the
 * one opening `Cert="`, which is followed by the certificate and not by a separator, so the whole
 * header is refused rather than read with the client's element last.
 */
export function parseXfcc(header: string): [string, string][][] | undefined {
  const elements: [string, string][][] = [];
  let pairs: [string, string][] = [];
  let i = 0;
  const skipSpaces = () => {
    while (header[i] === ' ' || header[i] === '\t') i++;
  };
  for (;;) {
    skipSpaces();
    const equals = header.indexOf('=', i);
    if (equals < 0) return undefined;
    const key = header.slice(i, equals).trim();
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(key)) return undefined;
    i = equals + 1;
    skipSpaces();
    let value = '';
    if (header[i] === '"') {
      for (i++; ; i++) {
        if (i >= header.length) return undefined;
        if (header[i] === '\\' && i + 1 < header.length) value += header[++i];
        else if (header[i] === '"') break;
        else value += header[i];
      }
      i++;
      skipSpaces();
    } else {
      while (i < header.length && header[i] !== ';' && header[i] !== ',') value += header[i++];
      if (value.includes('"')) return undefined;
      value = value.trim();
    }
    pairs.push([key, value]);
    if (i >= header.length) break;
    if (header[i] === ',') {
      elements.push(pairs);
      pairs = [];
    } else if (header[i] !== ';') {
      return undefined;
    }
    i++;
  }
  elements.push(pairs);
  return elements;
}

/** The certificate and whether a configured CA issued it; undefined when it is not a certificate. */
function readCertificate(pem: string, anchors: X509Certificate[]): PeerCertificate | undefined {
  try {
    const cert = new X509Certificate(pem);
    const issuer = anchors.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    // The dates (the leaf's and its CA's) are not checked here but at every use.
    const anchorWindow = issuer ? { notBefore: Date.parse(issuer.validFrom), notAfter: Date.parse(issuer.validTo) } : undefined;
    return fromDer(cert.raw, issuer !== undefined, issuer ? undefined : 'not issued by a configured client CA', anchorWindow);
  } catch {
    return undefined;
  }
}

function splitPem(pem: Buffer): string[] {
  return pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
