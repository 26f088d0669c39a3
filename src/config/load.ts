import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { ConfigError } from './config-error.js';
import { loadProfile } from './profile.js';
import { ConfigSchema, type ConfigFile, type Profile } from './schema.js';
import { validate } from './validate.js';

export interface LoadedConfig {
  config: ConfigFile;
  profile: Profile;
}

/** Reads, validates and resolves a config file; every problem names its key path. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError('', `${file} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  return resolveConfig(raw, path.dirname(path.resolve(file)), env);
}

/** Validates a config object (from a file or built in code); relative paths resolve against `baseDir`. */
export async function resolveConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const config = validate(ConfigSchema, applyEnv(raw, env));
  const resolve = (p: string) => path.resolve(baseDir, p);
  config.tls = { ...config.tls, cert: resolve(config.tls.cert), key: resolve(config.tls.key), clientCAs: config.tls.clientCAs.map(resolve) };
  config.keys = { ...config.keys, ...(config.keys.signing !== undefined ? { signing: resolve(config.keys.signing) } : {}) };
  if (config.keys.signing !== undefined && config.keys.signer) throw new ConfigError('keys.signer', 'give either keys.signing (a keys file) or keys.signer, not both');
  if (config.keys.signing === undefined && !config.keys.signer) throw new ConfigError('keys.signing', 'is required (a JWKS file of signing keys), unless keys.signer names an HSM');
  const signer = config.keys.signer;
  if (signer && 'file' in signer.pin) signer.pin = { file: resolve(signer.pin.file) };
  if (config.keys.encryption !== undefined) config.keys.encryption = resolve(config.keys.encryption);
  const interaction = config.interaction;
  if (interaction.clientCAs) interaction.clientCAs = interaction.clientCAs.map(resolve);
  if (interaction.clientKey) interaction.clientKey = resolve(interaction.clientKey);
  if (interaction.ca) interaction.ca = resolve(interaction.ca);
  if (interaction.clientCertificate) interaction.clientCertificate = { cert: resolve(interaction.clientCertificate.cert), key: resolve(interaction.clientCertificate.key) };
  const ui = config.ui;
  if (ui.logo) ui.logo = resolve(ui.logo);
  if (ui.stylesheet) ui.stylesheet = resolve(ui.stylesheet);
  if (ui.clientLogos.ca) ui.clientLogos.ca = resolve(ui.clientLogos.ca);
  if (ui.accounts?.ca) ui.accounts.ca = resolve(ui.accounts.ca);
  if (ui.accounts?.clientCertificate) ui.accounts.clientCertificate = { cert: resolve(ui.accounts.clientCertificate.cert), key: resolve(ui.accounts.clientCertificate.key) };
  const admin = config.grantManagement.admin;
  if (admin.clientCAs) admin.clientCAs = admin.clientCAs.map(resolve);
  if (config.audit.file !== undefined) config.audit = { ...config.audit, file: resolve(config.audit.file) };
  if (config.store.type === 'redis' && config.store.tls) config.store = { ...config.store, tls: { ca: resolve(config.store.tls.ca) } };
  const issuer = new URL(config.issuer);
  if (issuer.search || issuer.hash) throw new ConfigError('issuer', 'must have no query or fragment');
  if (config.issuer.endsWith('/')) throw new ConfigError('issuer', 'must not end with a slash');
  const mtlsUrl = config.listeners.mtls.url;
  if (mtlsUrl !== undefined && !mtlsUrl.startsWith('https://')) throw new ConfigError('listeners.mtls.url', 'must be an https URL');
  const profile = await loadProfile(config.profile.endsWith('.yaml') ? resolve(config.profile) : config.profile, config.policy);
  return { config, profile };
}

/** Environment overrides for values an operator commonly sets per deployment. */
function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const out = structuredClone(raw) as Record<string, any>;
  if (env.FAPI_GATEWAY_LOG_LEVEL) out.log = { ...(out.log ?? {}), level: env.FAPI_GATEWAY_LOG_LEVEL };
  if (env.FAPI_GATEWAY_LOG_PRETTY) out.log = { ...(out.log ?? {}), pretty: env.FAPI_GATEWAY_LOG_PRETTY === 'true' || env.FAPI_GATEWAY_LOG_PRETTY === '1' };
  if (env.FAPI_GATEWAY_DPOP_NONCE_KEY) out.dpop = { ...(out.dpop ?? {}), nonceKey: env.FAPI_GATEWAY_DPOP_NONCE_KEY };
  if (env.FAPI_GATEWAY_PAIRWISE_SECRET) out.subjects = { ...(out.subjects ?? {}), pairwiseSecret: env.FAPI_GATEWAY_PAIRWISE_SECRET };
  if (env.FAPI_GATEWAY_REDIS_URL) {
    // Kept out of the file so credentials can live in a Kubernetes Secret; naming it implies Redis.
    const store = out.store ?? { type: 'redis' };
    if (store.type !== 'redis') throw new ConfigError('store.type', 'must be redis when FAPI_GATEWAY_REDIS_URL is set');
    out.store = { ...store, url: env.FAPI_GATEWAY_REDIS_URL };
  }
  return out;
}
