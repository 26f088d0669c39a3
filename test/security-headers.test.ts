// HSTS and nosniff on every response of both TLS listeners: JSON, errors, pages (src/http/security-headers.ts).
import t from 'tap';
import { parForm, startGateway, type Harness, type Response } from './helpers/harness.js';

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h?.close());

function hardened(t: Tap, res: Response, what: string) {
  t.equal(res.headers['strict-transport-security'], 'max-age=31536000', `${what}: HSTS`);
  t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('public listener', async (t) => {
  const discovery = await h.get(`${h.issuer}/.well-known/openid-configuration`);
  t.equal(discovery.status, 200);
  hardened(t, discovery, 'discovery');
  const page = await h.get(`${h.issuer}/authorize`);
  t.match(page.headers['content-type'], /^text\/html/);
  hardened(t, page, 'an error page');
  hardened(t, await h.get(`${h.issuer}/no-such-thing`), 'a 404');
});

t.test('mTLS listener', async (t) => {
  const tokenError = await h.post('/token', { grant_type: 'authorization_code', code: 'nope' }, { client: 'client-two' });
  t.equal(tokenError.status >= 400 && tokenError.status < 500, true, tokenError.text);
  t.equal(tokenError.headers['cache-control'], 'no-store');
  hardened(t, tokenError, 'a token error');
  const par = await h.post('/par', parForm({ client_id: 'client-two' }), { client: 'client-two' });
  t.equal(par.status, 201, par.text);
  hardened(t, par, 'a PAR response');
});
