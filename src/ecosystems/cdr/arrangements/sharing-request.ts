import type { AuthorizationRequest } from '../../../oauth/authorization-request.js';
import { invalidRequest } from '../../../oauth/errors.js';

/** What a CDR authorization request asks of its arrangement, kept in `request.extensions.cdr`. */
export interface SharingRequest {
  /** Seconds of sharing (0: once-off, one access token and no refresh token), already cut to the maximum. */
  sharingDurationSeconds: number;
  /** The arrangement this authorization amends, when `claims.cdr_arrangement_id` names one. */
  amends?: string;
}

const MAX_ARRANGEMENT_ID_LENGTH = 256;

/**
 * Reads the CDS members of the `claims` parameter (top level): `sharing_duration` (seconds; negative
 * is refused, longer than the maximum is cut to it, absent is 0) and `cdr_arrangement_id`.
 */
export function sharingRequest(request: AuthorizationRequest, maxSharingDurationSeconds: number): SharingRequest {
  const duration = request.claims?.sharing_duration;
  const arrangementId = request.claims?.cdr_arrangement_id;
  let seconds = 0;
  if (duration !== undefined && duration !== null) {
    if (typeof duration !== 'number' || !Number.isInteger(duration)) throw invalidRequest('claims.sharing_duration must be an integer number of seconds');
    if (duration < 0) throw invalidRequest('claims.sharing_duration must not be negative');
    seconds = Math.min(duration, maxSharingDurationSeconds);
  }
  const sharing: SharingRequest = { sharingDurationSeconds: seconds };
  if (arrangementId !== undefined) {
    if (typeof arrangementId !== 'string' || arrangementId.length === 0 || arrangementId.length > MAX_ARRANGEMENT_ID_LENGTH)
      throw invalidRequest('claims.cdr_arrangement_id must be an arrangement id');
    sharing.amends = arrangementId;
  }
  return sharing;
}
