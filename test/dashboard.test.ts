import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { parser } from '@prometheus-io/lezer-promql';
import { Metrics } from '../src/observability/metrics.js';

/** Every PromQL expression must parse and name only series the gateway exports. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics({ version: 'test', profile: 'fapi2' });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
  }
  return names;
}

function checkExpression(t: Test, expr: string, exported: Set<string>, where: string): void {
  const tree = parser.parse(expr);
  let broken = false;
  tree.iterate({ enter: (node) => void (node.type.isError && (broken = true)) });
  t.notOk(broken, `${where} parses: ${expr}`);
  for (const name of expr.match(/\b(fapi_gateway_\w+|nodejs_\w+|process_\w+)\b/g) ?? []) t.ok(exported.has(name), `${where}: ${name} is exported`);
}

t.test('the Grafana dashboard queries series that exist', async (t) => {
  const exported = await exportedNames();
  const dashboard = JSON.parse(await readFile(new URL('../helm/fapi-gateway/dashboards/fapi-gateway.json', import.meta.url), 'utf8'));
  const titles = dashboard.panels.map((p: { title: string }) => p.title.toLowerCase()).join(' | ');
  for (const topic of ['request rate', 'error', 'latency', 'tokens issued', 'authentication failures', 'upstream latency', 'shedding'])
    t.match(titles, topic, `a panel for ${topic}`);
  for (const panel of dashboard.panels) for (const target of panel.targets) checkExpression(t, target.expr, exported, panel.title);
});

t.test('the alert examples in docs/operations.md parse and use exported series', async (t) => {
  const exported = await exportedNames();
  const doc = await readFile(new URL('../docs/operations.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1].split('\n').filter((l) => l && !l.startsWith('#')).join(' '));
  t.ok(blocks.length >= 5);
  // kube_pod_status_ready comes from kube-state-metrics, not from the gateway.
  for (const expr of blocks) checkExpression(t, expr, new Set([...exported]), 'alert');
});
