import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { commonWindow, extensionProblem, validityProblem, type CertificateProblem, type ValidityWindow } from './client-certificate-rules.js';
import { x509 } from './x509.js';

/** The client certificate presented on a connection, with what every request needs from it computed once. */
export interface PeerCertificate {
  readonly der: Buffer;
  /** base64url SHA-256 of the DER: `x5t#S256` (RFC 8705 §3.1). */
  readonly thumbprint: string;
  /** The chain verified against the configured client CAs (at the handshake, or when a proxy's header was read). */
  readonly chainVerified: boolean;
  readonly chainError: string | undefined;
  /** Parsed lazily: only client authentication by DN/SAN needs the fields. */
  parsed(): x509.X509Certificate;
  /**
   * Why this certificate cannot authenticate a client now, if it cannot: outside its (chain's)
   * validity at `now`, or not a client certificate by its extensions. Dates are checked at every
   * call, since a connection or a cache entry outlives the moment the certificate was first seen.
   */
  problem(now?: number): CertificateProblem | undefined;
}

const NONE = Symbol('no certificate');
const perConnection = new WeakMap<object, PeerCertificate | typeof NONE>();

/** The peer certificate of the request's TLS connection, computed once per connection. */
export function peerCertificate(req: IncomingMessage): PeerCertificate | undefined {
  const socket = req.socket as TLSSocket;
  const cached = perConnection.get(socket);
  if (cached !== undefined) return cached === NONE ? undefined : cached;
  const found = readPeerCertificate(socket);
  perConnection.set(socket, found ?? NONE);
  return found;
}

function readPeerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const detailed = socket.getPeerCertificate(true);
  const raw = detailed?.raw;
  if (!raw || raw.length === 0) return undefined;
  // A verified chain is only as current as its shortest-lived certificate (intermediates and the CA included).
  const chain = socket.authorized ? chainWindow(detailed) : undefined;
  return fromDer(raw, socket.authorized, socket.authorizationError ? String(socket.authorizationError) : undefined, chain);
}

function chainWindow(leaf: DetailedPeerCertificate): ValidityWindow | undefined {
  const windows: ValidityWindow[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  for (let cert: DetailedPeerCertificate | undefined = leaf; cert && !seen.has(cert); cert = cert.issuerCertificate) {
    seen.add(cert);
    const window = { notBefore: Date.parse(cert.valid_from), notAfter: Date.parse(cert.valid_to) };
    // Unreadable dates make the chain unusable rather than unlimited.
    windows.push(Number.isNaN(window.notBefore) || Number.isNaN(window.notAfter) ? { notBefore: Infinity, notAfter: -Infinity } : window);
  }
  return windows.length ? commonWindow(...windows) : undefined;
}

/**
 * `chain`: the validity window of the rest of the verified chain, intersected with the leaf's own.
 * The leaf's dates and extensions are read with @peculiar/x509 on first use.
 */
export function fromDer(der: Buffer, chainVerified: boolean, chainError?: string, chain?: ValidityWindow): PeerCertificate {
  let parsed: x509.X509Certificate | undefined;
  let fixed: { window: ValidityWindow; problem: CertificateProblem | undefined } | 'unparseable' | undefined;
  const parse = () => (parsed ??= new x509.X509Certificate(new Uint8Array(der)));
  return {
    der,
    thumbprint: certificateThumbprint(der),
    chainVerified,
    chainError,
    parsed: parse,
    problem(now = Date.now()) {
      if (fixed === undefined) {
        try {
          const cert = parse();
          const own = { notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
          fixed = { window: chain ? commonWindow(own, chain) : own, problem: extensionProblem(cert) };
        } catch {
          fixed = 'unparseable';
        }
      }
      if (fixed === 'unparseable') return 'unparseable_certificate';
      return validityProblem(fixed.window, now) ?? fixed.problem;
    },
  };
}

/** The certificate when it can authenticate a client now; undefined when absent or unusable. */
export function usableCertificate(certificate: PeerCertificate | undefined): PeerCertificate | undefined {
  return certificate && !certificate.problem() ? certificate : undefined;
}

export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
