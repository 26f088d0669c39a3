import type { EcosystemHooks } from '../../hooks.js';
import { directorySettings } from './settings.js';
import { checkSoftwareStatement } from './software-statement.js';

/** Statements from the Directory are signed PS256 (OFB DCR §7.1). */
const STATEMENT_ALGORITHMS = ['PS256'];

/**
 * Dynamic client registration, Open Finance Brasil style, on the core's registration (RFC 7591/7592):
 * the Directory of `ecosystem.directory` is trusted, each statement registers one client, the
 * statement is checked against the certificate and the request, and the registration access token
 * is not rotated on updates.
 */
export function registrationPart(settings: Record<string, unknown> | undefined): EcosystemHooks {
  const directory = directorySettings(settings);
  return {
    registrationSettings: () => ({
      directories: directory ? [{ ...directory, algorithms: STATEMENT_ALGORITHMS }] : [],
      rotateAccessToken: false,
      singleUseStatements: true,
    }),
    softwareStatement: checkSoftwareStatement,
  };
}
