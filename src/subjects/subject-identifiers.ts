import { createHmac } from 'node:crypto';
import type { Client } from '../clients/client.js';
import { ConfigError } from '../config/config-error.js';
import type { Profile } from '../config/schema.js';

/**
 * The `sub` a client sees (OIDC Core §8). Public: the user's own subject. Pairwise: an HMAC of the
 * client's sector and the subject under a deployment secret, so that clients of different sectors
 * cannot correlate a user, the same sector always sees the same value, and nobody without the
 * secret can recover the subject from it. Stored records keep the user's own subject.
 */
export class SubjectIdentifiers {
  readonly #secret: Buffer | undefined;

  constructor(profile: Profile, pairwiseSecret: string | undefined) {
    if (offersPairwise(profile) && pairwiseSecret === undefined)
      throw new ConfigError('subjects.pairwiseSecret', `is required by profile ${profile.name}, which offers pairwise subject identifiers (or set FAPI_GATEWAY_PAIRWISE_SECRET; at least 32 characters, the same on every replica, never changed)`);
    this.#secret = pairwiseSecret === undefined ? undefined : Buffer.from(pairwiseSecret, 'utf8');
  }

  /** What `client` is told the user's `sub` is. */
  forClient(client: Client | undefined, sub: string): string {
    const sector = client?.pairwiseSector;
    if (sector === undefined || this.#secret === undefined) return sub;
    return createHmac('sha256', this.#secret).update(`${sector}\n${sub}`).digest('base64url');
  }
}

export function offersPairwise(profile: Profile): boolean {
  return profile.subjectTypes?.includes('pairwise') ?? false;
}

/** The subject type a client gets: its registered one, else the profile's first. */
export function subjectTypeOf(profile: Profile, registered: string | undefined): 'public' | 'pairwise' {
  return (registered as 'public' | 'pairwise' | undefined) ?? profile.subjectTypes?.[0] ?? 'public';
}
