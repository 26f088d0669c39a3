import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startGateway, type Harness } from './helpers/harness.js';
import { fullFlow } from './helpers/flow.js';
import { certificateThumbprint } from '../src/tls/peer-certificate.js';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';

let h: Harness;
t.before(async () => {
  h = await startGateway();
});
t.teardown(() => h.close());

for (const client of ['client-one', 'client-two'] as const) {
  t.test(`${client}: PAR, login, consent, token, userinfo`, async (t) => {
    const { redirect, tokens, pushed } = await fullFlow(h, client);
    t.equal(redirect.searchParams.get('iss'), h.issuer);
    t.equal(redirect.searchParams.get('state'), pushed.state);
    t.equal(tokens.token_type, 'Bearer');
    t.ok(tokens.refresh_token);
    const header = decodeProtectedHeader(tokens.access_token);
    t.equal(header.typ, 'at+jwt');
    const at = decodeJwt(tokens.access_token);
    const der = new X509Certificate(await readFile(h.pki.clients[client].cert)).raw;
    t.same((at.cnf as any)['x5t#S256'], certificateThumbprint(der));
    const id = decodeJwt(tokens.id_token);
    t.equal(id.nonce, pushed.nonce);
    t.equal(id.aud, client);
    const info = await h.get(`${h.mtlsBase}/userinfo`, { client, headers: { authorization: `Bearer ${tokens.access_token}` } });
    t.equal(info.status, 200, info.text);
    t.equal(info.json.sub, 'alice-7f3c');
  });
}
