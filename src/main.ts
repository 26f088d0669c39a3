#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConfigError } from './config/config-error.js';
import { DEMO_USER, embeddedConfig, SAMPLE_BANK } from './config/embedded.js';
import { sampleBank } from './sample-bank/server.js';
import { loadConfigFile, resolveConfig, type LoadedConfig } from './config/load.js';
import { ensureDevPki, type DevPki } from './devpki/dev-pki.js';
import { hashPassword } from './users/password.js';
import { clientsCommand, CLIENTS_USAGE } from './registration/cli.js';
import { grantsCommand, GRANTS_USAGE } from './grants/management/cli.js';
import { startTracing } from './observability/tracing/tracing.js';

// The gateway is imported once tracing (if configured) runs: its loader hook only sees modules imported after it.
const gatewayModule = () => import('./app.js');
const createContext: typeof import('./app.js').createContext = async (...args) => (await gatewayModule()).createContext(...args);
import { auditCommand } from './observability/audit/verify.js';
import { keysCommand, KEYS_USAGE } from './keys/rotate-cli.js';

const USAGE = `usage:
  fapi-gateway [--config FILE]        run the gateway (embedded defaults without --config)
  fapi-gateway check --config FILE    validate a config file and exit
  fapi-gateway hash-password          read a password on stdin, print its scrypt hash for users[].passwordHash
  fapi-gateway audit verify FILE      check the audit records' hash chains in FILE (a gap or an edit fails)
${CLIENTS_USAGE}
${GRANTS_USAGE}
${KEYS_USAGE}
  fapi-gateway <command> ... --config FILE   commands of the profile's ecosystem pack (profile cdr: arrangements revoke ID)`;

const DEV_PKI_DIR = fileURLToPath(new URL('../certs/dev/', import.meta.url));

async function main(argv: string[]): Promise<number> {
  const command = argv[0] && !argv[0].startsWith('-') ? argv.shift()! : 'run';
  const configIndex = argv.indexOf('--config');
  const configFile = configIndex >= 0 ? argv[configIndex + 1] ?? process.env.FAPI_GATEWAY_CONFIG : process.env.FAPI_GATEWAY_CONFIG;
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  switch (command) {
    case 'hash-password':
      console.log(await hashPassword((await readStdin()).replace(/\r?\n$/, '')));
      return 0;
    case 'audit':
      return auditCommand(argv, (line) => console.log(line));
    case 'check': {
      if (!configFile) return usageError('check needs --config FILE');
      const context = await createContext(await loadConfigFile(configFile));
      await context.store.close();
      console.log(`${configFile}: valid (profile ${context.profile.name}, ${[...context.clients.all()].length} clients)`);
      return 0;
    }
    case 'clients': {
      if (!configFile) return usageError('clients needs --config FILE');
      const context = await createContext(await loadConfigFile(configFile));
      const args = argv.filter((a, i) => a !== '--config' && argv[i - 1] !== '--config');
      try {
        return await clientsCommand(context, args, (line) => console.log(line));
      } finally {
        await context.store.close();
      }
    }
    case 'grants': {
      if (!configFile) return usageError('grants needs --config FILE');
      const context = await createContext(await loadConfigFile(configFile));
      const args = argv.filter((a, i) => a !== '--config' && argv[i - 1] !== '--config');
      try {
        return await grantsCommand(context, args, (line) => console.log(line));
      } finally {
        await context.hooks.stop?.();
        await context.store.close();
      }
    }
    case 'keys': {
      if (!configFile) return usageError('keys needs --config FILE');
      const { config, profile } = await loadConfigFile(configFile);
      const args = argv.filter((a, i) => a !== '--config' && argv[i - 1] !== '--config');
      return keysCommand(args, { config, profile, out: (line) => console.log(line) });
    }
    case 'run':
      return run(configFile);
    default: {
      // A command of the profile's ecosystem pack (e.g. arrangements), known once the config is read.
      if (!configFile) return usageError(`unknown command "${command}" (an ecosystem's commands need --config FILE)`);
      const context = await createContext(await loadConfigFile(configFile));
      const args = argv.filter((a, i) => a !== '--config' && argv[i - 1] !== '--config');
      try {
        const packCommand = context.hooks.cliCommands?.()[command];
        if (!packCommand) return usageError(`unknown command "${command}"`);
        return await packCommand.run(args, (line) => console.log(line));
      } finally {
        await context.hooks.stop?.();
        await context.store.close();
      }
    }
  }
}

async function run(configFile: string | undefined): Promise<number> {
  let loaded: LoadedConfig;
  let pki: DevPki | undefined;
  if (configFile) {
    loaded = await loadConfigFile(configFile);
  } else {
    pki = await ensureDevPki(DEV_PKI_DIR).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`no --config given, and the embedded defaults cannot write their development PKI under ${DEV_PKI_DIR} (${err.code ?? err.message}); outside development, run with --config FILE`);
    });
    loaded = await resolveConfig(await embeddedConfig(pki), process.cwd());
  }
  await startTracing(loaded.config.tracing);
  const gateway = await (await gatewayModule()).createGateway(loaded);
  const log = gateway.public.log;
  // The default action of SIGHUP ends the process without a drain and loses the buffered log lines.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading the TLS credentials and signing keys');
    void gateway.reloadCredentials('sighup');
  });
  for (const username of gateway.context.users.plainPasswordUsers)
    log.warn(`user "${username}" has a plain-text password: use passwordHash (fapi-gateway hash-password) outside throw-away sandboxes`);
  // The gateway's listeners first: a second `npm start` is told which of its ports is taken.
  await gateway.listen();
  const bank = pki ? sampleBank() : undefined;
  await bank?.listen(SAMPLE_BANK).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EADDRINUSE' ? new Error(`port ${SAMPLE_BANK.port} on ${SAMPLE_BANK.host} is already in use, so the sample bank cannot start: is another fapi-gateway running?`) : err;
  });

  const { urls, config } = gateway.context;
  const ops = config.listeners.ops;
  const lines = [
    `fapi-gateway is running (profile ${gateway.context.profile.name})`,
    `  issuer:                   ${urls.issuer}`,
    `  public listener:          https://${config.listeners.public.host}:${config.listeners.public.port}  (authorization, login and consent pages)`,
    `  discovery:                ${urls.issuer}/.well-known/openid-configuration`,
    `  mTLS listener:            ${urls.mtlsBase}  (PAR ${urls.par}, token ${urls.token})`,
    `  ops listener:             http://${ops.host}:${ops.port}/healthz`,
    `  login:                    ${config.interaction.mode}${config.listeners.interaction ? ` (interaction API https://${config.listeners.interaction.host}:${config.listeners.interaction.port}/interactions, bank apps' certificates only)` : ''}`,
  ];
  if (pki) {
    const rel = (f: string) => path.relative(process.cwd(), f) || f;
    lines.push(
      'embedded defaults (development only):',
      `  CA certificate:   ${rel(pki.ca)}`,
      `  client-one (private_key_jwt): cert ${rel(pki.clients['client-one'].cert)}, key ${rel(pki.clients['client-one'].key)}, signing JWK ${rel(pki.clients['client-one'].jwk)}`,
      `  client-two (tls_client_auth): cert ${rel(pki.clients['client-two'].cert)}, key ${rel(pki.clients['client-two'].key)}`,
      `  demo user:        ${DEMO_USER.username} / ${DEMO_USER.password}`,
      `  sample bank:      http://${SAMPLE_BANK.host}:${SAMPLE_BANK.port} behind ${urls.mtlsBase}/accounts`,
      `  walk-through:     npm run demo`,
      `  try: curl --cacert ${rel(pki.ca)} ${urls.issuer}/.well-known/openid-configuration`,
    );
  }
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return log.info({ signal }, 'already shutting down');
    stopping = true;
    const { graceSeconds, readinessDelaySeconds } = config.shutdown;
    // SIGTERM comes from an orchestrator whose load balancers learn late that readiness turned off;
    // SIGINT is a person at a terminal.
    const readinessDelayMs = signal === 'SIGTERM' ? readinessDelaySeconds * 1000 : 0;
    log.info({ signal, graceSeconds, readinessDelayMs }, 'shutting down: draining requests in flight');
    // The last resort if anything in the drain hangs: the process always ends within its grace.
    setTimeout(() => process.exit(1), graceSeconds * 1000).unref();
    // The sample bank (development) lives in this process and ends with it.
    const drained = await gateway.close(graceSeconds * 1000, { readinessDelayMs }).catch(() => false);
    process.exit(drained ? 0 : 1);
  };
  // Repeated signals are ignored (the default action would kill the process mid-drain).
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return -1;
}

function usageError(message: string): number {
  console.error(`fapi-gateway: ${message}\n${USAGE}`);
  return 2;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError) {
      console.error(`fapi-gateway: configuration error: ${err.message}`);
      process.exit(78);
    }
    console.error(`fapi-gateway: failed to start: ${(err as Error).message}`);
    process.exit(1);
  },
);
