import path from 'node:path';
import type { GatewayStartOptions, Runtime, SigningAlg } from './gateway.js';
import { IMAGE_NODE_FLAGS } from '../../test/helpers/image-env.js';

/** The `parseArgs` options of every bench that starts the gateway: which build runs, and a CPU profile of it. */
export const GATEWAY_OPTIONS = {
  runtime: { type: 'string', default: 'dist' },
  'gateway-root': { type: 'string' },
  'cpu-prof': { type: 'string' },
  /** Flags for the gateway's `node`, space-separated (`--node-args='--max-semi-space-size=4'`; empty: none; default: the image's). */
  'node-args': { type: 'string' },
} as const;

interface GatewayArgs {
  runtime: string;
  'gateway-root'?: string;
  'cpu-prof'?: string;
  'node-args'?: string;
}

/** The start options that GATEWAY_OPTIONS give (`--runtime`, `--gateway-root`, `--cpu-prof`, `--node-args`). */
export function gatewayRun(args: GatewayArgs): Pick<GatewayStartOptions, 'runtime' | 'root' | 'cpuProfDir' | 'nodeArgs'> {
  return {
    runtime: args.runtime as Runtime,
    root: args['gateway-root'] && path.resolve(args['gateway-root']),
    cpuProfDir: args['cpu-prof'] && path.resolve(args['cpu-prof']),
    nodeArgs: args['node-args'] === undefined ? undefined : args['node-args'].split(/\s+/).filter(Boolean),
  };
}

/** Where the gateway runs from, as the benches print it: `gateway from ./dist`. */
export const gatewaySource = (args: GatewayArgs) =>
  `gateway from ${args['gateway-root'] ?? '.'}/${args.runtime === 'dist' ? 'dist' : 'src (tsx)'} with node ${args['node-args'] === undefined ? `${IMAGE_NODE_FLAGS.join(' ')} (the image's flags)` : args['node-args'] || 'without flags'}`;

/** `--max-seconds`, at most `capSeconds`, in ms. */
export const boundMs = (seconds: string, capSeconds: number) => Math.min(Number(seconds), capSeconds) * 1000;

/** The `parseArgs` options of the complete-flow benches (bench/flow.ts, bench/redis-flow.ts). */
export const FLOW_OPTIONS = {
  flows: { type: 'string', default: '1000' },
  concurrency: { type: 'string', default: '8' },
  warmup: { type: 'string', default: '200' },
  'max-seconds': { type: 'string', default: '120' },
  alg: { type: 'string', default: 'ES256' },
  ...GATEWAY_OPTIONS,
} as const;

/** FLOW_OPTIONS read: counts as numbers, the time bound (at most 240 s: pre-signed assertions live 280 s), the signing algorithm checked. */
export function flowSettings(args: { flows: string; concurrency: string; warmup: string; 'max-seconds': string; alg: string }) {
  const alg = args.alg as SigningAlg;
  if (alg !== 'ES256' && alg !== 'PS256') throw new Error('--alg must be ES256 or PS256');
  return { flows: Number(args.flows), concurrency: Number(args.concurrency), warmup: Number(args.warmup), maxMs: boundMs(args['max-seconds'], 240), alg };
}
