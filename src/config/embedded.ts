import { CLIENT_TWO_DN, publicJwk, type DevPki } from '../devpki/dev-pki.js';

/** The demo user's password; its scrypt hash is what the embedded config holds. */
export const DEMO_USER = { username: 'alice', password: 'wonderland' };
export const DEMO_REDIRECT_URI = 'https://client.localhost/callback';
/** Where the built-in sample bank listens when the gateway runs on embedded defaults. */
export const SAMPLE_BANK = { host: '127.0.0.1', port: 9101 };

/** The config used when the gateway starts without `--config`: everything on loopback, dev PKI, memory store. */
export async function embeddedConfig(pki: DevPki): Promise<Record<string, unknown>> {
  return {
    issuer: 'https://localhost:8443',
    // FAPI_GATEWAY_PROFILE=fapi2-message-signing tries signed request objects (npm run demo -- --signed).
    profile: process.env.FAPI_GATEWAY_PROFILE ?? 'fapi2',
    listeners: {
      public: { host: '127.0.0.1', port: 8443 },
      mtls: { host: '127.0.0.1', port: 8444, url: 'https://localhost:8444' },
      ops: { host: '127.0.0.1', port: 9090 },
    },
    tls: { cert: pki.serverCert, key: pki.serverKey, clientCAs: [pki.ca] },
    keys: { signing: pki.signingKeys, encryption: pki.encryptionKeys },
    store: { type: 'memory' },
    routes: [
      { prefix: '/accounts', upstream: `http://${SAMPLE_BANK.host}:${SAMPLE_BANK.port}`, scopes: ['accounts'], methods: ['GET'], timeoutMs: 10_000 },
    ],
    users: [
      {
        username: DEMO_USER.username,
        passwordHash: '$scrypt$N=16384,r=8,p=1$D5tJaR0Ufle-yOjw08w4ow$FobMfWhxquSEp7eLkLmizKrpdpx8BPaT6vgXOPQWRVs',
        sub: 'alice-7f3c',
        claims: { name: 'Alice Example', given_name: 'Alice', family_name: 'Example', email: 'alice@example.com', email_verified: true },
      },
    ],
    clients: [
      {
        client_id: 'client-one',
        client_name: 'Demo client one (private_key_jwt)',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [await publicJwk(pki.clients['client-one'].jwk)] },
        redirect_uris: [DEMO_REDIRECT_URI],
        scope: 'openid profile email accounts transactions',
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      },
      {
        client_id: 'client-two',
        client_name: 'Demo client two (tls_client_auth)',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: CLIENT_TWO_DN,
        jwks: { keys: [await publicJwk(pki.clients['client-two'].jwk)] },
        redirect_uris: [DEMO_REDIRECT_URI],
        scope: 'openid profile email accounts transactions',
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      },
    ],
  };
}
