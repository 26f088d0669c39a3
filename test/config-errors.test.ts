import t from 'tap';
import { ConfigError, ConfigErrors } from '../src/config/config-error.js';
import { resolveConfig } from '../src/config/load.js';
import { testConfig, testPki } from './helpers/harness.js';

async function problemsOf(edit: (config: Record<string, any>) => void): Promise<ConfigErrors> {
  const { dir, pki } = await testPki();
  const config = await testConfig(pki);
  edit(config);
  try {
    await resolveConfig(config, dir, {});
  } catch (err) {
    if (err instanceof ConfigErrors) return err;
    throw err;
  }
  throw new Error('the config was accepted');
}

t.test('every problem of a config at once, each naming its key path', async (t) => {
  const err = await problemsOf((config) => {
    config.log = { levle: 'debug' };
    config.listeners.public.port = 'eighty';
    config.metrics = { enabled: 'yes' };
    config.routes = [{ prefix: 'accounts', upstream: 'ftp://bank/', scopes: ['accounts'] }];
    config.audit = { maxBufferBytes: 1 };
  });
  t.ok(err instanceof ConfigError, 'a ConfigError');
  const paths = err.problems.map((p) => p.keyPath);
  for (const path of ['log.levle', 'listeners.public.port', 'metrics.enabled', 'routes[0].prefix', 'routes[0].upstream', 'audit.maxBufferBytes']) t.ok(paths.includes(path), `names ${path}`);
  t.match(err.message, /^6 problems:\n {2}- /, 'the message lists them');
  t.equal(err.keyPath, err.problems[0].keyPath, 'the first one is the error\'s key path');
});

t.test('an unknown key: did you mean', async (t) => {
  const err = await problemsOf((config) => void (config.log = { levle: 'debug' }));
  t.equal(err.message, 'log.levle: is not a known key (did you mean "level"?)');
  const far = await problemsOf((config) => void (config.log = { colour: true }));
  t.match(far.message, /log\.colour: is not a known key \(known here: level, pretty, maxBufferBytes\)/, 'nothing close: the keys that are known');
  const top = await problemsOf((config) => void (config.isuer = 'https://localhost'));
  t.match(top.message, /^isuer: is not a known key \(did you mean "issuer"\?\)/);
});

t.test('plain words instead of regular expressions', async (t) => {
  const err = await problemsOf((config) => {
    config.routes = [{ prefix: 'accounts', upstream: 'ftp://bank/', scopes: ['accounts'] }];
    config.store = { type: 'redis', url: 'http://redis' };
  });
  const text = err.message;
  t.match(text, /routes\[0\]\.prefix: must be a path of one or more \/segments/);
  t.match(text, /routes\[0\]\.upstream: must be an http:\/\/ or https:\/\/ URL without a query or fragment, got "ftp:\/\/bank\/"/);
  t.match(text, /store\.url: must be a redis:\/\/ or rediss:\/\/ URL$/m, 'a URL that may hold a password is not echoed');
  t.notMatch(text, /\^|\[\^|\$'/, 'no pattern is shown');
  const kinds = await problemsOf((config) => {
    config.metrics = { enabled: 'yes' };
    config.audit = { maxBufferBytes: 3 };
    delete config.keys;
  });
  t.match(kinds.message, /metrics\.enabled: must be true or false, got "yes"/);
  t.match(kinds.message, /audit\.maxBufferBytes: must be at least 16384, got 3/);
  t.match(kinds.message, /keys: is required \(missing\)/);
  const level = await problemsOf((config) => void (config.log = { level: 'verbose' }));
  t.equal(level.message, 'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose"');
});
