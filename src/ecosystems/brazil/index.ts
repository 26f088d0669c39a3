import { composeHooks } from '../compose.js';
import type { EcosystemFactory } from '../hooks.js';
import { consentsPart } from './consents/part.js';
import { paymentConsentsFor, paymentsPart } from './payments/part.js';
import { registrationPart } from './registration/part.js';
import { resourcePart } from './resources/part.js';
import { consentSettings } from './settings.js';

/**
 * Open Finance Brasil (`profile: brazil`): an authorization server whose tokens live and die with the
 * customer's consent. Each part validates its own keys of the `ecosystem:` settings.
 */
export const brazilPack: EcosystemFactory = (settings) => {
  const paymentConsents = paymentConsentsFor(settings);
  return composeHooks(consentsPart(consentSettings(settings)), registrationPart(settings), paymentsPart(settings, paymentConsents), resourcePart(settings));
};
