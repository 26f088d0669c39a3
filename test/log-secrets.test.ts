import t from 'tap';
import { startGateway } from './helpers/harness.js';
import { fullFlow, push, authorize, CookieJar, browserRequest, formOf } from './helpers/flow.js';
import { recordingUpstream } from './helpers/upstream.js';

t.test('a whole flow with secrets everywhere leaves none of them in the logs', async (t) => {
  const upstream = await recordingUpstream();
  const h = await startGateway({
    configure: (config) => {
      config.routes = [{ prefix: '/accounts', upstream: upstream.url, scopes: ['accounts'], methods: ['GET', 'POST'], forwardAuthorization: true }];
      config.log = { level: 'trace' };
    },
  });
  t.teardown(async () => {
    await h.close();
    await upstream.close();
  });

  const secrets: string[] = [];
  const { tokens, code, pushed } = await fullFlow(h, 'client-one');
  secrets.push(tokens.access_token, tokens.refresh_token, tokens.id_token, code, pushed.verifier);

  // A failed login with a password, a replayed assertion, a reused code, introspection and revocation.
  const jar = new CookieJar();
  const second = await push(h, 'client-one');
  const page = await browserRequest(h, jar, `/authorize?client_id=client-one&request_uri=${encodeURIComponent(second.requestUri)}`);
  const { action, csrf } = formOf(page.text);
  await browserRequest(h, jar, action, { csrf, username: 'alice', password: 'not-the-password-42', action: 'login' });
  secrets.push('not-the-password-42', 'wonderland', csrf);
  for (const cookie of jar.cookies.values()) secrets.push(cookie);
  const redirect = await authorize(h, second, { jar });
  const secondCode = redirect.searchParams.get('code')!;
  secrets.push(secondCode);

  const assertion = await h.assertion();
  secrets.push(assertion);
  const form = { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion, token: tokens.access_token };
  await h.post('/introspect', form);
  await h.post('/introspect', form);
  await h.post('/token', { ...(await h.assertionForm()), grant_type: 'authorization_code', code, redirect_uri: pushed.form.redirect_uri, code_verifier: pushed.verifier });
  await h.post('/token', { ...(await h.assertionForm()), grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  await h.get(`${h.mtlsBase}/accounts?access_token=${tokens.access_token}`, { client: 'client-one' });
  await h.post('/accounts', `{"password":"body-secret-77"}`, { client: 'client-one', headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json', cookie: 'session=cookie-secret-88' } });
  // A live token (the reused code above ended the first grant) presented with another certificate.
  const live = await fullFlow(h, 'client-one');
  secrets.push(live.tokens.access_token, live.code);
  await h.get(`${h.mtlsBase}/userinfo`, { client: 'client-two', headers: { authorization: `Bearer ${live.tokens.access_token}` } });
  await h.post('/revoke', { ...(await h.assertionForm()), token: tokens.refresh_token });
  secrets.push('body-secret-77', 'cookie-secret-88');

  const logs = h.logs.join('\n');
  t.ok(h.logs.length > 20, `logs were captured (${h.logs.length} lines)`);
  for (const secret of secrets) t.notOk(logs.includes(secret), `secret not logged: ${secret.slice(0, 12)}…`);
  // JWTs' parts on their own (a signature or payload segment) do not appear either.
  for (const part of tokens.access_token.split('.')) t.notOk(logs.includes(part), 'no access token segment');

  // What must be there: one line per request with the interaction id, and named audit events.
  const lines = h.logs.map((l) => JSON.parse(l));
  const requestLines = lines.filter((l) => l.msg === 'request');
  t.ok(requestLines.every((l) => l.interactionId && l.listener && l.route !== undefined && l.status && l.durationMs !== undefined));
  t.ok(requestLines.some((l) => l.clientId === 'client-one'));
  const audits = new Set(lines.map((l) => l.audit).filter(Boolean));
  for (const event of ['code_reuse', 'assertion_replayed', 'certificate_mismatch']) t.ok(audits.has(event), `audit event ${event}`);
  t.ok(lines.some((l) => l.audit === 'login_failed'), 'a failed login is an audit event');
});
