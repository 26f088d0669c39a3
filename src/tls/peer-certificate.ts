import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { x509 } from './x509.js';

/** The client certificate presented on a connection, with what every request needs from it computed once. */
export interface PeerCertificate {
  readonly der: Buffer;
  /** base64url SHA-256 of the DER: `x5t#S256` (RFC 8705 §3.1). */
  readonly thumbprint: string;
  /** The chain verified against the configured client CAs during the handshake. */
  readonly chainVerified: boolean;
  readonly chainError: string | undefined;
  /** Parsed lazily: only client authentication by DN/SAN needs the fields. */
  parsed(): x509.X509Certificate;
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
  const raw = socket.getPeerCertificate(false)?.raw;
  if (!raw || raw.length === 0) return undefined;
  return fromDer(raw, socket.authorized, socket.authorizationError ? String(socket.authorizationError) : undefined);
}

export function fromDer(der: Buffer, chainVerified: boolean, chainError?: string): PeerCertificate {
  let parsed: x509.X509Certificate | undefined;
  return {
    der,
    thumbprint: certificateThumbprint(der),
    chainVerified,
    chainError,
    parsed: () => (parsed ??= new x509.X509Certificate(new Uint8Array(der))),
  };
}

export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
