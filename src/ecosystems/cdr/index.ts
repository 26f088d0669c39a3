import type { EcosystemFactory } from '../hooks.js';
import { authorizationPart } from './authorization/part.js';
import { composeHooks } from '../compose.js';
import { registrationPart } from './registration/part.js';
import { resourcePart } from './resources/part.js';

/** Australia's Consumer Data Right, data holder side (profiles/cdr.yaml). */
export const cdrPack: EcosystemFactory = (settings) => composeHooks(authorizationPart(settings), registrationPart(settings), resourcePart(settings));
