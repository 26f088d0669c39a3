import type { EcosystemFactory } from '../hooks.js';
import { resourcePart } from './resources/part.js';

/** The Consumer Data Right pack (data holder). Its parts: the resource front door. */
export const cdrPack: EcosystemFactory = (settings) => resourcePart(settings);
