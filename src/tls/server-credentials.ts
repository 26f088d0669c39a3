import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config-error.js';
import type { ConfigFile } from '../config/schema.js';
import { keyFileWarning, type KeyFileWarning } from '../keys/key-file-permissions.js';
import { keyWeakness } from '../keys/key-strength.js';

export interface ServerCredentials {
  cert: Buffer;
  key: Buffer;
  /** Trust anchors for tls_client_auth client certificates. */
  clientCAs: Buffer[];
  /** A private key file readable by others: warned about at start. */
  keyFileWarning: KeyFileWarning | undefined;
  /** The server certificate and the client CA certificates, parsed (for their expiry). */
  parsed: { server: X509Certificate; clientCAs: X509Certificate[] };
}

export async function loadServerCredentials(tls: ConfigFile['tls']): Promise<ServerCredentials> {
  const cert = await readConfigFile(tls.cert, 'tls.cert');
  const key = await readConfigFile(tls.key, 'tls.key');
  let server: X509Certificate;
  try {
    server = new X509Certificate(cert);
  } catch {
    throw new ConfigError('tls.cert', `${tls.cert} is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError('tls.key', `${tls.key} is not a PEM private key`);
  }
  const weakness = keyWeakness(privateKey);
  if (weakness) throw new ConfigError('tls.key', weakness);
  // Files replaced one at a time (a certificate written before its key) must not pair up.
  if (!server.checkPrivateKey(privateKey)) throw new ConfigError('tls.key', `${tls.key} is not the private key of the certificate in ${tls.cert}`);
  const parsedCAs: X509Certificate[] = [];
  const clientCAs = await Promise.all(
    tls.clientCAs.map(async (file, i) => {
      const pem = await readConfigFile(file, `tls.clientCAs[${i}]`);
      const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      try {
        if (blocks.length === 0) throw new Error('no certificate');
        parsedCAs.push(...blocks.map((block) => new X509Certificate(block)));
      } catch {
        throw new ConfigError(`tls.clientCAs[${i}]`, `${file} is not a PEM certificate`);
      }
      return pem;
    }),
  );
  return { cert, key, clientCAs, keyFileWarning: await keyFileWarning(tls.key, 'tls.key'), parsed: { server, clientCAs: parsedCAs } };
}

export async function readConfigFile(file: string, keyPath: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ConfigError(keyPath, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
