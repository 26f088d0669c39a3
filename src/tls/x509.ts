// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill
// loaded first; this module is the one place that sets the library up.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as Crypto);

export { x509 };
