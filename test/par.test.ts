import t from 'tap';
import { startGateway, parForm, type Harness } from './helpers/harness.js';

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h.close());

const par = async (overrides: Record<string, string | undefined> = {}, client: 'client-one' | 'client-two' | null = 'client-one') =>
  h.post('/par', { ...parForm(overrides), ...(client === 'client-one' ? await h.assertionForm() : {}) }, { client });

t.test('a private_key_jwt client pushes a request and gets a request_uri', async (t) => {
  const res = await par();
  t.equal(res.status, 201);
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.json.request_uri, /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
  t.equal(res.json.expires_in, 60);
});

t.test('a tls_client_auth client pushes a request', async (t) => {
  const res = await par({ client_id: 'client-two' }, 'client-two');
  t.equal(res.status, 201, res.text);
});
