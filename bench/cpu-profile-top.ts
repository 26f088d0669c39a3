/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. written by `bench/par.ts --cpu-prof DIR`):
 * the functions with the most self time, and self time by package.
 *   node --import tsx bench/cpu-profile-top.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';
import { fixed, printTable } from './lib/stats.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, top = '25'] = process.argv.slice(2);
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

const functions = new Map<string, number>();
const packages = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = url ? `${url.replace(/^.*?(node_modules\/|\/dist\/|\/src\/)/, '$1')}:${lineNumber + 1}` : '';
  const name = `${functionName || '(anonymous)'} ${where}`.trim();
  functions.set(name, (functions.get(name) ?? 0) + us);
  packages.set(origin(url), (packages.get(origin(url)) ?? 0) + us);
}

const rows = (m: Map<string, number>, n: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => [k, fixed(us / 1000, 0), fixed((100 * us) / total, 1)]);
console.log(`${file}: ${fixed(total / 1e6, 2)} s sampled\n`);
printTable(['self time by origin', 'ms', '%'], rows(packages, 15));
console.log();
printTable(['function (self time)', 'ms', '%'], rows(functions, Number(top)));
