import type { EcosystemFactory } from '../hooks.js';
import { registrationPart } from './registration/part.js';

/** Australia's Consumer Data Right, data holder side (`profile: cdr`). */
export const cdrPack: EcosystemFactory = (settings) => registrationPart(settings);
