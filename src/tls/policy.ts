import { constants } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Profile } from '../config/schema.js';

/**
 * FAPI 2.0 §5.2.1 / BCP 195: TLS 1.2 or later; on TLS 1.2 only these four ECDHE AES-GCM suites.
 * TLS 1.3 suites are all AEAD and are listed so OpenSSL keeps them; the highest version both sides
 * support is negotiated, so TLS 1.3 wins whenever the client offers it.
 */
const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
];
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const FAPI_TLS_POLICY: Pick<TlsOptions & SecureContextOptions, 'minVersion' | 'ciphers' | 'honorCipherOrder' | 'ecdhCurve'> = {
  minVersion: 'TLSv1.2',
  ciphers: [...TLS13_SUITES, ...TLS12_SUITES].join(':'),
  honorCipherOrder: true,
  ecdhCurve: 'X25519:P-256:P-384',
};

/** The listeners' TLS settings: the FAPI 2.0 policy, narrowed by the profile's `tls` section. */
export function tlsPolicy(profile: Pick<Profile, 'tls'>): Pick<TlsOptions & SecureContextOptions, 'minVersion' | 'ciphers' | 'honorCipherOrder' | 'ecdhCurve' | 'secureOptions'> {
  const suites = profile.tls?.tls12CipherSuites;
  return {
    ...FAPI_TLS_POLICY,
    ...(suites ? { ciphers: [...TLS13_SUITES, ...TLS12_SUITES.filter((suite) => suites.includes(suite))].join(':') } : {}),
    ...(profile.tls?.renegotiation === false ? { secureOptions: constants.SSL_OP_NO_RENEGOTIATION } : {}),
  };
}
