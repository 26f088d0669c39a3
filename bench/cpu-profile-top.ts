/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. written by `bench/par.ts --cpu-prof DIR`):
 * the functions with the most self time, and self time by package. With a third argument, also
 * the inclusive time (the function and all it calls) of the functions whose name or file match it:
 *   node --import tsx bench/cpu-profile-top.ts FILE.cpuprofile [TOP] [REGEX]
 * Times are sampled wall time on the main thread: on a busy machine they include time descheduled.
 */
import { readFileSync } from 'node:fs';
import { fixed, printTable } from './lib/stats.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, top = '25', inclusive] = process.argv.slice(2);
if (!file) throw new Error('usage: cpu-profile-top.ts FILE.cpuprofile [TOP]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

/** Where a script comes from: a package, node itself, the gateway's own code. */
function origin(url: string): string {
  if (url === '') return '(native / VM)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/(dist|src|bench)\/(.*)$/.exec(url);
  return own ? `${own[1]}/${own[2].split('/')[0]}` : url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^.*?(node_modules\/|\/dist\/|\/src\/)/, '$1')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
}

const functions = new Map<string, number>();
const packages = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { url } = byId.get(id)!.callFrame;
  const name = label(byId.get(id)!);
  functions.set(name, (functions.get(name) ?? 0) + us);
  packages.set(origin(url), (packages.get(origin(url)) ?? 0) + us);
}

const rows = (m: Map<string, number>, n: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => [k, fixed(us / 1000, 0), fixed((100 * us) / total, 1)]);
console.log(`${file}: ${fixed(total / 1e6, 2)} s sampled\n`);
printTable(['self time by origin', 'ms', '%'], rows(packages, 15));
console.log();
printTable(['function (self time)', 'ms', '%'], rows(functions, Number(top)));

if (inclusive) {
  // Inclusive time of a function: its nodes' subtrees, a recursive call counted once.
  const subtree = new Map<number, number>();
  const sum = (id: number): number => {
    const t = (selfUs.get(id) ?? 0) + (byId.get(id)!.children ?? []).reduce((a, c) => a + sum(c), 0);
    subtree.set(id, t);
    return t;
  };
  sum(profile.nodes[0].id);
  const matching = new RegExp(inclusive);
  const totals = new Map<string, number>();
  const walk = (id: number, open: Set<string>) => {
    const name = label(byId.get(id)!);
    const fresh = !open.has(name);
    if (fresh && matching.test(name)) totals.set(name, (totals.get(name) ?? 0) + subtree.get(id)!);
    if (fresh) open.add(name);
    for (const child of byId.get(id)!.children ?? []) walk(child, open);
    if (fresh) open.delete(name);
  };
  walk(profile.nodes[0].id, new Set());
  console.log(`\nfunctions matching /${inclusive}/, with all they call:`);
  printTable(['function (inclusive time)', 'ms', '%'], rows(totals, Number(top)));
}
