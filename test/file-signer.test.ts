// The keys file's signer signs with node:crypto: its JWTs must verify with jose, with the header and
// claims jose's own SignJWT would have written, for each algorithm the profiles allow.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, importJWK, jwtVerify, SignJWT } from 'jose';
import { fileKeySigner } from '../src/keys/signers/file-signer.js';

const pairs = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  PS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: generateKeyPairSync('ed25519'),
};

for (const [alg, pair] of Object.entries(pairs)) {
  t.test(alg, async (t) => {
    const privateKey = (await importJWK({ ...(await exportJWK(pair.privateKey)), alg }, alg)) as CryptoKey;
    const publicKey = await importJWK({ ...(await exportJWK(pair.publicKey)), alg }, alg);
    const signer = fileKeySigner('k-1', alg, privateKey);
    const claims = { iss: 'https://as.example', sub: 'alice', aud: 'client-one', iat: 1_700_000_000, exp: 4_000_000_000, scope: 'openid accounts', cnf: { 'x5t#S256': 'abc' }, note: 'é ✓' };
    const jwt = await signer.signJwt(claims, { typ: 'at+jwt' });
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, { algorithms: [alg] });
    t.same(payload, claims, 'the claims');
    t.same(protectedHeader, { typ: 'at+jwt', alg, kid: 'k-1' }, 'the header');
    const byJose = await new SignJWT(claims).setProtectedHeader({ typ: 'at+jwt', alg, kid: 'k-1' }).sign(privateKey);
    t.equal(jwt.split('.').slice(0, 2).join('.'), byJose.split('.').slice(0, 2).join('.'), "the signing input jose's SignJWT writes");
  });
}
