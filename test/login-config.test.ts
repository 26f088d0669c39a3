// Login mode settings: a wrong one fails at start naming its key path.
import t from 'tap';
import { startGateway } from './helpers/harness.js';

async function keyPathOf(configure: (config: Record<string, any>) => void): Promise<string | undefined> {
  return startGateway({ configure }).then(
    async (h) => {
      await h.close();
      return undefined;
    },
    (err: { keyPath?: string }) => err.keyPath ?? String(err),
  );
}

const external = { mode: 'external', loginUrl: 'https://login.bank.example/fapi', clientCAs: ['/nonexistent/bank-ca.pem'], acrValues: ['urn:a'] };
const oidc = { mode: 'oidc', issuer: 'https://idp.bank.example', client_id: 'gw', clientAuth: 'private_key_jwt', clientKey: '/nonexistent/key.jwk', acrValues: ['urn:a'] };

t.test('external mode', async (t) => {
  t.equal(await keyPathOf((c) => void (c.interaction = external)), 'listeners.interaction', 'needs its listener');
  t.equal(await keyPathOf((c) => void ((c.interaction = external), (c.listeners.interaction = { host: '127.0.0.1', port: 0 }))), 'interaction.clientCAs[0]', 'an unreadable CA file');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...external, loginUrl: undefined })), 'interaction.loginUrl', 'loginUrl is required');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...external, loginUrl: 'http://login.bank.example' })), 'interaction.loginUrl', 'https only');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...external, issuer: 'https://idp.example' })), 'interaction.issuer', 'a key of another mode');
});

t.test('oidc mode', async (t) => {
  t.equal(await keyPathOf((c) => void (c.interaction = oidc)), 'interaction.clientKey', 'an unreadable key file');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...oidc, clientKey: undefined })), 'interaction.clientKey', 'private_key_jwt needs a key');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...oidc, clientAuth: 'tls_client_auth', clientKey: undefined })), 'interaction.clientCertificate', 'tls_client_auth needs a certificate');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...oidc, mapping: { acr: { 'urn:idp:x': 'urn:b' } } })), 'interaction.mapping.acr.urn:idp:x', 'a mapping to an acr not allowed');
  t.equal(await keyPathOf((c) => void (c.interaction = { ...oidc, scope: 'profile' })), 'interaction.scope', 'scope must include openid');
  t.equal(await keyPathOf((c) => void (c.listeners.interaction = { host: '127.0.0.1', port: 0 })), 'listeners.interaction', 'the interaction listener in builtin mode');
});

t.test('builtin mode', async (t) => {
  t.equal(await keyPathOf((c) => void (c.interaction = { mode: 'builtin', loginUrl: 'https://x.example' })), 'interaction.loginUrl', 'a key of another mode');
  t.equal(await keyPathOf((c) => void (c.users[0].totpSecret = 'not base32!')), 'users[0].totpSecret', 'a malformed TOTP secret');
  t.equal(await keyPathOf((c) => void (c.loginThrottle = { delayMs: -1 })), 'loginThrottle.delayMs');
});
