import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { AuditSink } from '../src/observability/audit/sink.js';
import { verifyAuditFile } from '../src/observability/audit/verify.js';
import { Metrics } from '../src/observability/metrics.js';
import { fullFlow } from './helpers/flow.js';
import { spawnGateway } from './helpers/gateway-process.js';
import { connectHarness, startGateway, testConfig, testPki } from './helpers/harness.js';

const run = promisify(execFile);
const MAIN = path.resolve(import.meta.dirname, '../src/main.ts');

/** `fapi-gateway audit verify FILE` as an operator runs it: its exit code and output. */
async function verifyCommand(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', MAIN, 'audit', 'verify', file], { timeout: 60_000 });
    return { code: 0, output: stdout };
  } catch (err) {
    const failed = err as { code: number; stdout: string };
    return { code: failed.code, output: failed.stdout };
  }
}

const tmp = () => mkdtemp(path.join(tmpdir(), 'fapi-gateway-audit-'));

t.test('a whole flow writes its security and lifecycle events to the audit stream, in one vocabulary, as a chain that verifies', async (t) => {
  const audit: string[] = [];
  const h = await startGateway({ gatewayOptions: { audit: { write: (line: string) => audit.push(line) } } });
  t.teardown(() => h.close());
  const { tokens, code, pushed } = await fullFlow(h, 'client-one');
  await h.post('/token', { ...(await h.assertionForm()), grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  // The code again: reuse, which ends the grant.
  await h.post('/token', { ...(await h.assertionForm()), grant_type: 'authorization_code', code, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier });
  const live = await fullFlow(h, 'client-one');
  await h.post('/revoke', { ...(await h.assertionForm()), token: live.tokens.refresh_token });

  const records = audit.map((line) => JSON.parse(line));
  const events = records.map((r) => r.event);
  for (const event of ['audit_chain_started', 'client_authenticated', 'authorization_approved', 'token_issued', 'token_refreshed', 'code_reuse', 'token_revoked', 'grant_ended'])
    t.ok(events.includes(event), `audit event ${event}`);
  t.ok(records.every((r) => r.stream === 'audit' && typeof r.outcome === 'string' && !Number.isNaN(Date.parse(r.time))), 'every record: stream, outcome, ISO time');
  t.ok(records.every((r) => !('clientId' in r) && !('reqId' in r) && !('audit' in r)), 'older field names are normalised');
  const issued = records.find((r) => r.event === 'token_issued');
  t.match(issued, { client_id: 'client-one', outcome: 'success', grant_id: String, sub: String, interaction_id: String, grant_type: 'authorization_code' }, 'a token issued names client, grant, customer and interaction');
  t.match(records.find((r) => r.event === 'code_reuse'), { client_id: 'client-one', outcome: 'failure' }, 'code reuse, with the client (logged as clientId)');
  t.match(records.find((r) => r.event === 'authorization_approved'), { client_id: 'client-one', grant_id: issued.grant_id }, 'the approval names the grant');
  t.notOk(h.logs.some((line) => line.includes('"audit":')), 'the audit events are no longer in the log');
  t.notOk(audit.join('').includes(tokens.access_token) || audit.join('').includes(code), 'no token or code in the audit stream');
  const metrics = await h.gateway.context.metrics!.registry.metrics();
  t.match(metrics, /fapi_gateway_authorization_code_reuse_total 1\b/, 'code reuse is counted');
  t.match(metrics, /fapi_gateway_audit_events_total\{event="token_issued"\} [1-9]/, 'audit events are counted');

  const dir = await tmp();
  const file = path.join(dir, 'audit.log');
  // Interleaved with ordinary log lines, as on stdout.
  await writeFile(file, [...h.logs.slice(0, 3), ...audit.map((l) => l.trimEnd())].join('\n') + '\n');
  const intact = await verifyCommand(file);
  t.equal(intact.code, 0, `the chain verifies: ${intact.output}`);
  t.match(intact.output, /intact/);

  const lines = audit.map((l) => l.trimEnd());
  const deleted = path.join(dir, 'deleted.log');
  await writeFile(deleted, [...lines.slice(0, 4), ...lines.slice(5)].join('\n') + '\n');
  const gap = await verifyCommand(deleted);
  t.equal(gap.code, 1, 'a deleted line fails');
  t.match(gap.output, /BROKEN[\s\S]*1 record\(s\) missing before it \(seq 4\)/, 'and says where');

  const edited = path.join(dir, 'edited.log');
  const target = lines.findIndex((l) => l.includes('"event":"token_issued"'));
  await writeFile(edited, lines.map((l, i) => (i === target ? l.replace('"client_id":"client-one"', '"client_id":"client-two"') : l)).join('\n') + '\n');
  const changed = await verifyCommand(edited);
  t.equal(changed.code, 1, 'an edited line fails');
  t.match(changed.output, /edited/, 'and says so');

  // An edit whose author recomputed that record's own hash still breaks the link from the next record.
  const report = await verifyAuditFile(deleted);
  t.notOk(report.ok);
});

t.test('the chain of an in-process sink: recomputed hashes, reordering, a missing start, and drops stated in the chain', async (t) => {
  const dir = await tmp();
  const written: string[] = [];
  let full = false;
  const metrics = new Metrics({ version: 'test', profile: 'fapi2' });
  const sink = new AuditSink((line) => (full ? false : (written.push(line), true)), metrics, 'replica-a');
  sink.record({ audit: 'token_issued', clientId: 'c1', level: 'info', time: new Date().toISOString() });
  full = true;
  sink.record({ audit: 'token_issued', client_id: 'c2', level: 'info' });
  sink.record({ audit: 'login_failed', client_id: 'c3', level: 'warn' });
  full = false;
  sink.record({ audit: 'token_revoked', client_id: 'c4', level: 'info' });
  const records = written.map((l) => JSON.parse(l));
  t.same(records.map((r) => r.event), ['audit_chain_started', 'token_issued', 'audit_records_dropped', 'token_revoked'], 'the loss is a record of the chain');
  t.equal(records[2].count, 2);
  t.match(await metrics.registry.metrics(), /fapi_gateway_audit_records_dropped_total 2\b/, 'and counted');
  t.match(records[1], { client_id: 'c1', outcome: 'success', replica: 'replica-a', seq: 1 });

  const file = path.join(dir, 'dropped.log');
  await writeFile(file, written.join(''));
  const report = await verifyAuditFile(file);
  t.ok(report.ok, 'a known loss is not tampering');
  t.equal(report.chains[0].dropped, 2, 'the verifier reports it');

  const swapped = path.join(dir, 'swapped.log');
  await writeFile(swapped, [written[0], written[2], written[1], written[3]].join(''));
  t.notOk((await verifyAuditFile(swapped)).ok, 'reordered records fail');

  const headless = path.join(dir, 'headless.log');
  await writeFile(headless, written.slice(1).join(''));
  t.match((await verifyAuditFile(headless)).chains[0].problems[0], /does not begin with audit_chain_started/, 'a chain without its start fails');

  // Two replicas in one collected file: one chain each.
  const other: string[] = [];
  const sinkB = new AuditSink((line) => (other.push(line), true), undefined, 'replica-b');
  sinkB.record({ audit: 'token_issued', client_id: 'c5', level: 'info' });
  const mixed = path.join(dir, 'mixed.log');
  await writeFile(mixed, [written[0], other[0], written[1], other[1], written[2], written[3]].join(''));
  const both = await verifyAuditFile(mixed);
  t.ok(both.ok, 'interleaved replicas verify');
  t.same(both.chains.map((c) => c.replica).sort(), ['replica-a', 'replica-b']);
});

t.test('audit.file: records go to their own file, flushed at shutdown; a file that cannot be opened fails the start naming the key', async (t) => {
  const dir = await tmp();
  const file = path.join(dir, 'audit', 'gateway-audit.log');
  const h = await startGateway({ configure: (config) => void (config.audit = { file, replica: 'gw-1' }) });
  await fullFlow(h, 'client-one');
  await h.close();
  const text = await readFile(file, 'utf8');
  t.match(text, /"event":"token_issued"/, 'the flow is in the audit file');
  t.notOk(h.logs.some((line) => line.includes('"audit":')), 'and not in the log');
  t.ok(text.split('\n').filter(Boolean).every((l) => JSON.parse(l).replica === 'gw-1'), 'each record names the replica');
  t.equal((await verifyCommand(file)).code, 0, 'it verifies');

  // Its folder would have to be where a file is.
  await writeFile(path.join(dir, 'a-file'), '');
  await t.rejects(
    startGateway({ configure: (config) => void (config.audit = { file: path.join(dir, 'a-file', 'audit.log') }) }),
    { keyPath: 'audit.file', message: /audit\.file: cannot be opened for appending/ },
  );
  await t.rejects(startGateway({ configure: (config) => void (config.audit = { maxBufferBytes: 10 }) }), { message: /audit\.maxBufferBytes/ });
});

t.test('a gateway process writes its audit records to stdout beside its log, marked "stream":"audit", and the captured output verifies', async (t) => {
  const { pki } = await testPki();
  const config = await testConfig(pki);
  config.shutdown = { graceSeconds: 10, readinessDelaySeconds: 0 };
  const gateway = await spawnGateway(config);
  t.teardown(() => gateway.stop('SIGKILL'));
  const h = await connectHarness({ pki, issuer: config.issuer, mtlsBase: config.listeners.mtls.url });
  t.teardown(() => h.close());
  await fullFlow(h, 'client-one');
  t.equal(await gateway.stop('SIGTERM'), 0, 'stopped');
  const lines = gateway.output().split('\n').filter((l) => l.startsWith('{'));
  const audit = lines.map((l) => JSON.parse(l)).filter((l) => l.stream === 'audit');
  t.ok(audit.some((r) => r.event === 'token_issued' && r.client_id === 'client-one'), 'the flow is in the audit stream');
  t.ok(lines.some((l) => l.includes('"msg":"request"')), 'beside the request log');
  t.notOk(lines.some((l) => l.includes('"audit":')), 'no audit event left in the log itself');
  const file = path.join(await tmp(), 'stdout.log');
  await writeFile(file, gateway.output());
  const verified = await verifyCommand(file);
  t.equal(verified.code, 0, `the captured stdout verifies: ${verified.output}`);
});
