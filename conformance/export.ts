/**
 * Writes what a bank needs to run the suite's plans against its own deployment, from the same
 * description the local runner uses: for each variant the suite's test config, and the clients to
 * register at the gateway (a YAML `clients:` block), plus the test PKI unless the bank gives its own.
 *
 *   npm run conformance:export -- --out DIR --issuer URL --mtls-base URL --suite-base URL
 *        [--resource-url URL] [--pki DIR] [--alias-prefix NAME] [--username U --password P]
 *        [--pages-match GLOB] (--variant NAME ... | --all)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { gatewayClients, suiteConfig, VARIANTS, type ConformanceVariant, type Endpoints } from './description.js';
import { ensurePki, readPki } from './pki.js';

const { values: a } = parseArgs({
  options: {
    out: { type: 'string' }, issuer: { type: 'string' }, 'mtls-base': { type: 'string' }, 'suite-base': { type: 'string' },
    'resource-url': { type: 'string' }, pki: { type: 'string' }, 'alias-prefix': { type: 'string', default: 'fapi-gw' },
    username: { type: 'string', default: 'alice' }, password: { type: 'string', default: 'conformance-pw' },
    'pages-match': { type: 'string' }, variant: { type: 'string', multiple: true, default: [] }, all: { type: 'boolean', default: false },
  },
});
const need = (name: keyof typeof a) => (a[name] as string | undefined) ?? (console.error(`--${name} is required (see conformance/export.ts)`), process.exit(64));
const out = path.resolve(need('out'));
const strip = (u: string) => u.replace(/\/+$/, '');
const endpoints: Endpoints = { issuer: strip(need('issuer')), mtlsBase: strip(need('mtls-base')), suiteBase: strip(need('suite-base')) };
const variants: ConformanceVariant[] = (a.all ? VARIANTS : a.variant!.map((n) => VARIANTS.find((v) => v.name === n) ?? (console.error(`unknown variant ${n}`), process.exit(64))))
  .map((v) => ({ ...v, alias: v.alias.replace(/^fapi-gw/, a['alias-prefix']!) }));
if (!variants.length) { console.error(`give --variant (${VARIANTS.map((v) => v.name).join(', ')}) or --all`); process.exit(64); }

const pkiFiles = await ensurePki(path.resolve(a.pki ?? path.join(out, 'pki')));
const pki = await readPki(pkiFiles);
mkdirSync(out, { recursive: true, mode: 0o700 });
const pages = {
  pagesMatch: a['pages-match'] ?? `${endpoints.issuer}/*`,
  authorizeMatch: `${endpoints.issuer}/authorize*`,
  username: a.username!, password: a.password!,
};
const clients = [];
for (const variant of variants) {
  const config = suiteConfig(variant, pki, { endpoints, pages, resourceUrl: a['resource-url'] });
  writeFileSync(path.join(out, `suite-${variant.name}.json`), JSON.stringify(config, null, 2), { mode: 0o600 });
  clients.push(...gatewayClients(variant, pki, endpoints));
}
writeFileSync(path.join(out, 'gateway-clients.yaml'), `# Add to the gateway config's clients; trust ${pkiFiles.clientCa} in tls.clientCAs.\n${stringify({ clients }, { aliasDuplicateObjects: false })}`);
console.log(`wrote ${out}: ${variants.map((v) => `suite-${v.name}.json`).join(', ')}, gateway-clients.yaml; PKI in ${pkiFiles.dir}`);
