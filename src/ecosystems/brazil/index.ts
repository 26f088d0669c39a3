import { composeHooks } from '../compose.js';
import type { EcosystemFactory } from '../hooks.js';
import { paymentConsentsFor, paymentsPart } from './payments/part.js';
import { registrationPart } from './registration/part.js';

/** Open Finance Brasil: the pack's parts, composed. */
export const brazilPack: EcosystemFactory = (settings) => {
  const paymentConsents = paymentConsentsFor(settings);
  return composeHooks(registrationPart(settings), paymentsPart(settings, paymentConsents));
};
