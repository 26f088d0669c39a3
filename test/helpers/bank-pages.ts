import { createServer, type Server } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import type { DevPki } from '../../src/devpki/dev-pki.js';

/** A real PNG of `size`×`size` pixels: a rounded badge in `rgb` on white (a client's logo). `noise` makes it large. */
export function pngBadge(size: number, rgb: [number, number, number], options: { noise?: boolean } = {}): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const dx = x - size / 2 + 0.5;
      const dy = y - size / 2 + 0.5;
      const inside = dx * dx + dy * dy < (size * 0.42) ** 2;
      const ring = Math.abs(Math.sqrt(dx * dx + dy * dy) - size * 0.25) < size * 0.06;
      const [r, g, b] = inside ? (ring ? [255, 255, 255] : rgb) : [255, 255, 255];
      const n = options.noise ? Math.floor(Math.random() * 40) : 0;
      row.set([Math.min(255, r + n), Math.min(255, g + n), Math.min(255, b + n)], 1 + x * 3);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows), { level: options.noise ? 0 : 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The bank's logo: a mark and the bank's name (SVG). */
export const BANK_LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="36" viewBox="0 0 120 36">
<rect x="2" y="4" width="28" height="28" rx="6" fill="#0a4d3c"/><path d="M9 24 L16 10 L23 24 Z" fill="#ffffff"/>
<text x="36" y="24" font-family="Georgia, serif" font-size="15" font-weight="700" fill="#0a4d3c">Banco</text></svg>`;

export interface BankServer {
  url: string;
  /** The subs the accounts endpoint was asked about. */
  asked: string[];
  /** What /accounts answers next: a status and a body (default: the customer's accounts). */
  answer?: { status: number; body: string };
  close(): Promise<void>;
}

export const ACCOUNTS = [
  { id: 'acc-1001', label: 'Everyday Account', detail: 'BSB 062-000 •••• 4821' },
  { id: 'acc-1002', label: 'Online Saver', detail: 'BSB 062-000 •••• 9310' },
  { id: 'acc-1003', label: 'Platinum Credit Card', detail: '•••• •••• •••• 2207' },
];

/**
 * The bank's systems on loopback, over https with the dev PKI's server certificate: GET /accounts?sub=
 * lists the customer's accounts; /logo.png, /big.png and /logo.svg are client logos.
 */
export async function bankServer(pki: DevPki): Promise<BankServer> {
  const [cert, key] = await Promise.all([readFile(pki.serverCert), readFile(pki.serverKey)]);
  const small = pngBadge(64, [200, 60, 20]);
  const big = pngBadge(256, [20, 60, 200], { noise: true });
  const state: BankServer = { url: '', asked: [], close: async () => {} };
  const server: Server = createServer({ cert, key }, (req, res) => {
    const url = new URL(req.url!, 'https://localhost');
    if (url.pathname === '/accounts') {
      state.asked.push(url.searchParams.get('sub') ?? '');
      const answer = state.answer ?? { status: 200, body: JSON.stringify({ accounts: ACCOUNTS }) };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      return res.end(answer.body);
    }
    if (url.pathname === '/logo.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(small);
    if (url.pathname === '/big.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(big);
    if (url.pathname === '/logo.svg') return res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(BANK_LOGO_SVG);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `https://localhost:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
