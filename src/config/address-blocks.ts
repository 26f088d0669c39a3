import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from './config-error.js';

/** A list of IP addresses and CIDR blocks from the config; `keyPath` names the list in errors. */
export function addressBlocks(cidrs: string[], keyPath: string): BlockList {
  const list = new BlockList();
  cidrs.forEach((cidr, i) => {
    const [address, bits] = cidr.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128))
      throw new ConfigError(`${keyPath}[${i}]`, `"${cidr}" is not an IP address or CIDR block`);
    list.addSubnet(address, prefix, type);
  });
  return list;
}
