import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Ports are taken from below the kernel's ephemeral range: there, no outgoing connection of this or
// another test process can take a port between the moment it is found free and the moment the
// server under test binds it. Randomised, so parallel test processes rarely pick the same one.
const EPHEMERAL_FLOOR = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
})();
/** Where freePort looks; below it, 10000-20999 is left to tests that need a port and port + 10000 (Redis Cluster). */
const RANGE = { from: 21_000, to: Math.min(EPHEMERAL_FLOOR, 65_536) - 1 };
const handedOut = new Set<number>();

/** A loopback port free at the time of asking, not handed out before in this process. */
export async function freePort(): Promise<number> {
  if (RANGE.to - RANGE.from < 1_000) return osAssignedPort(); // an unusual ephemeral range: let the OS choose
  for (;;) {
    const port = RANGE.from + Math.floor(Math.random() * (RANGE.to - RANGE.from + 1));
    if (handedOut.has(port) || !(await portFree(port))) continue;
    handedOut.add(port);
    return port;
  }
}

/** True when `port` can be bound on loopback now. */
export function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function osAssignedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
