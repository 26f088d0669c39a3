import { initializeForThreads, pkcs11js, type Pkcs11Api } from './pkcs11-token.js';

/** DER of the P-256 curve's object identifier (1.2.840.10045.3.1.7), as CKA_EC_PARAMS holds it. */
export const P256_EC_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/**
 * Generates a signing key pair inside a PKCS#11 token, both objects under `label`: the private half
 * sensitive and non-extractable (never leaves the token), the public half readable for the JWKS.
 * For development tokens (SoftHSM) and tests; an HSM's own tools do the same.
 */
export async function generateKeyPairInToken(
  token: { module: string; tokenLabel: string; pin: string },
  alg: 'PS256' | 'ES256',
  label: string,
  options: { extractable?: boolean } = {},
): Promise<void> {
  const lib = await pkcs11js();
  const module: Pkcs11Api = new lib.PKCS11();
  module.load(token.module);
  // The same library may sign in this process afterwards (tests, a development start): it must lock.
  initializeForThreads(lib, module);
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === token.tokenLabel);
  if (!slot) throw new Error(`no token labelled "${token.tokenLabel}"`);
  const session = module.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
  try {
    try {
      module.C_Login(session, lib.CKU_USER, token.pin);
    } catch (err) {
      if ((err as { code?: number }).code !== lib.CKR_USER_ALREADY_LOGGED_IN) throw err;
    }
    const common = [
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_LABEL, value: label },
    ];
    const privateTemplate = [
      ...common,
      { type: lib.CKA_PRIVATE, value: true },
      { type: lib.CKA_SENSITIVE, value: !options.extractable },
      { type: lib.CKA_EXTRACTABLE, value: options.extractable ?? false },
      { type: lib.CKA_SIGN, value: true },
    ];
    const publicTemplate =
      alg === 'PS256'
        ? [...common, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_MODULUS_BITS, value: 2048 }, { type: lib.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }]
        : [...common, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_EC_PARAMS, value: P256_EC_PARAMS }];
    module.C_GenerateKeyPair(session, { mechanism: alg === 'PS256' ? lib.CKM_RSA_PKCS_KEY_PAIR_GEN : lib.CKM_EC_KEY_PAIR_GEN }, publicTemplate, privateTemplate);
  } finally {
    module.C_CloseSession(session);
  }
}
