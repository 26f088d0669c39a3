import type { EcosystemFactory } from '../hooks.js';
import { resourcePart } from './resources/part.js';

/** The Open Finance Brasil pack. Its parts: the resource front door. */
export const brazilPack: EcosystemFactory = (settings) => resourcePart(settings);
