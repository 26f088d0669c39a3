// Rendering the Helm chart and checking what it renders against the Kubernetes API schemas.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = path.join(ROOT, 'helm', 'fapi-gateway');

const run = promisify(execFile);

/** A rendered Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

/** Runs helm; rejects with its stderr on a non-zero exit. */
export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('helm', args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

/** `helm template` of the chart with values files and --set-file/--set arguments; the parsed objects. */
export async function renderChart(options: { release?: string; namespace?: string; args?: string[] } = {}): Promise<KubeObject[]> {
  const { stdout } = await helm([
    'template',
    options.release ?? 'fgw',
    CHART,
    '--namespace',
    options.namespace ?? 'bank',
    ...(options.args ?? []),
  ]);
  return parseManifests(stdout);
}

/**
 * Parses a multi-document manifest. YAML 1.1, as Kubernetes reads it (a bare `0440` is octal there,
 * and `y` is a boolean).
 */
export function parseManifests(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) throw new Error(`invalid YAML in the rendered chart: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 0 });
    if (value === null || value === undefined) continue;
    objects.push(value as KubeObject);
  }
  return objects;
}

// The models of every kind the chart renders, by apiVersion and kind.
const MODELS: Record<string, { model: new (data: any) => { validate(): void }; type: string; module: string }> = {
  'v1/ConfigMap': { model: ConfigMap, type: 'IConfigMap', module: 'kubernetes-models/v1/ConfigMap' },
  'v1/Service': { model: Service, type: 'IService', module: 'kubernetes-models/v1/Service' },
  'v1/ServiceAccount': { model: ServiceAccount, type: 'IServiceAccount', module: 'kubernetes-models/v1/ServiceAccount' },
  'apps/v1/Deployment': { model: Deployment, type: 'IDeployment', module: 'kubernetes-models/apps/v1/Deployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    type: 'IHorizontalPodAutoscaler',
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, type: 'IPodDisruptionBudget', module: 'kubernetes-models/policy/v1/PodDisruptionBudget' },
  'networking.k8s.io/v1/Ingress': { model: Ingress, type: 'IIngress', module: 'kubernetes-models/networking.k8s.io/v1/Ingress' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, type: 'INetworkPolicy', module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    type: 'IServiceMonitor',
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  },
};

/**
 * Validates an object against its Kubernetes schema (kubernetes-models: types, required fields,
 * formats) and, since those schemas let unknown fields through while the API server drops them (or
 * refuses them under strict field validation), against the models' type declarations for unknown
 * fields too. Returns the problems found.
 */
export function validateObject(object: KubeObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const entry = MODELS[key];
  if (!entry) return [`${key}: no schema known for this kind`];
  const problems: string[] = [];
  try {
    new entry.model(object).validate();
  } catch (err) {
    problems.push(`${key} ${object.metadata?.name}: ${(err as Error).message}`);
  }
  for (const field of unknownFields(object, entry.type, entry.module))
    problems.push(`${key} ${object.metadata?.name}: unknown field ${field}`);
  return problems;
}

let checker: { checker: ts.TypeChecker; kinds: ts.Type } | undefined;

/** A TypeScript program over the models' declarations, built once (a couple of seconds). */
function typeChecker(): { checker: ts.TypeChecker; kinds: ts.Type } {
  if (checker) return checker;
  const file = path.join(ROOT, 'test', 'helpers', '__kube-kinds__.ts');
  const source = [
    ...Object.values(MODELS).map((m, i) => `import type { ${m.type} as T${i} } from '${m.module}';`),
    `export interface Kinds { ${Object.values(MODELS).map((m, i) => `'${m.module}': T${i};`).join(' ')} }`,
  ].join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? source : readFile.call(host, f));
  host.getSourceFile = (f, language, ...rest) =>
    f === file ? ts.createSourceFile(f, source, language, true, ts.ScriptKind.TS) : getSourceFile.call(host, f, language, ...rest);
  const program = ts.createProgram({ rootNames: [file], options, host });
  const c = program.getTypeChecker();
  const sourceFile = program.getSourceFile(file)!;
  const resolveErrors = ts.getPreEmitDiagnostics(program, sourceFile);
  if (resolveErrors.length)
    throw new Error(`cannot load the kubernetes-models declarations: ${ts.flattenDiagnosticMessageText(resolveErrors[0].messageText, '\n')}`);
  const moduleSymbol = c.getSymbolAtLocation(sourceFile)!;
  const kindsSymbol = c.getExportsOfModule(moduleSymbol).find((s) => s.name === 'Kinds')!;
  checker = { checker: c, kinds: c.getDeclaredTypeOfSymbol(kindsSymbol) };
  return checker;
}

/** The dotted paths of fields in `value` that its declared type does not have. */
function unknownFields(value: unknown, typeName: string, module: string): string[] {
  const { checker: c, kinds } = typeChecker();
  const kindProperty = c.getPropertyOfType(kinds, module);
  if (!kindProperty) return [`(no declaration for ${typeName})`];
  const found: string[] = [];
  walk(c, value, c.getTypeOfSymbol(kindProperty), '', found);
  return found;
}

function walk(c: ts.TypeChecker, value: unknown, declared: ts.Type, at: string, found: string[]): void {
  if (value === null || typeof value !== 'object') return;
  let type = c.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (type.isUnion()) {
    const objects = type.types.filter((t) => t.flags & ts.TypeFlags.Object);
    if (objects.length !== 1) return; // IntOrString and the like: nothing to descend into
    type = objects[0];
  }
  if (Array.isArray(value)) {
    const element = c.getIndexTypeOfType(type, ts.IndexKind.Number);
    if (element) value.forEach((v, i) => walk(c, v, element, `${at}[${i}]`, found));
    return;
  }
  const index = c.getIndexTypeOfType(type, ts.IndexKind.String);
  for (const [name, v] of Object.entries(value)) {
    const property = c.getPropertyOfType(type, name);
    const here = at ? `${at}.${name}` : name;
    if (property) walk(c, v, c.getTypeOfSymbol(property), here, found);
    else if (index) walk(c, v, index, here, found);
    else found.push(here);
  }
}
