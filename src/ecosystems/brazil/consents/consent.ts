/** An Open Finance Brasil data-sharing consent (Consents API v3) and how its status follows from what happened to it. */

export type ConsentStatus = 'AWAITING_AUTHORISATION' | 'AUTHORISED' | 'REJECTED';
export type RejectedBy = 'USER' | 'ASPSP' | 'TPP';
export type RejectionReason =
  | 'CONSENT_EXPIRED'
  | 'CUSTOMER_MANUALLY_REJECTED'
  | 'CUSTOMER_MANUALLY_REVOKED'
  | 'CONSENT_MAX_DATE_REACHED'
  | 'CONSENT_TECHNICAL_ISSUE'
  | 'INTERNAL_SECURITY_REASON';

export interface Document {
  identification: string;
  rel: string;
}

/** The consent as created; never changed afterwards (what happens to it is in its markers). */
export interface ConsentRecord {
  id: string;
  clientId: string;
  loggedUser: Document;
  businessEntity?: Document;
  permissions: string[];
  /** Seconds since the epoch. */
  createdAt: number;
  /** The end the TPP asked for (seconds); none: until revoked. */
  expiresAt?: number;
}

/** Written once, when the customer approves. */
export interface AuthorisedMarker {
  at: number;
  grantId: string;
  accountIds: string[];
}

/** Written once, when the consent ends, whoever ends it first. */
export interface EndedMarker {
  at: number;
  rejectedBy: RejectedBy;
  reason: RejectionReason;
}

/** An extension of an authorised consent's end (`POST /consents/{id}/extends`), as the customer asked it. */
export interface ExtensionRecord {
  at: number;
  /** The new end (seconds); none: indefinite. */
  expiresAt?: number;
  previousExpiresAt?: number;
  loggedUser: Document;
  businessEntity?: Document;
  customerIpAddress: string;
  customerUserAgent: string;
}

/** An AWAITING_AUTHORISATION consent not authorised within this long is rejected (CONSENT_EXPIRED). */
export const AWAITING_SECONDS = 3600;

export interface ConsentState {
  record: ConsentRecord;
  authorised?: AuthorisedMarker;
  ended?: EndedMarker;
  /** Oldest first. */
  extensions?: ExtensionRecord[];
}

/** The consent's end now: the last extension's, else the one it was created with (undefined: indefinite). */
export function currentExpiry(state: ConsentState): number | undefined {
  const last = state.extensions?.at(-1);
  return last ? last.expiresAt : state.record.expiresAt;
}

/** The consent's status now, and the ending that time has brought but nobody has written yet. */
export function statusAt(state: ConsentState, now: number): { status: ConsentStatus; updatedAt: number; rejection?: EndedMarker; due?: EndedMarker } {
  const { record, authorised, ended } = state;
  if (ended) return { status: 'REJECTED', updatedAt: ended.at, rejection: ended };
  if (authorised) {
    const expiresAt = currentExpiry(state);
    if (expiresAt !== undefined && now >= expiresAt) {
      const due: EndedMarker = { at: expiresAt, rejectedBy: 'ASPSP', reason: 'CONSENT_MAX_DATE_REACHED' };
      return { status: 'REJECTED', updatedAt: due.at, rejection: due, due };
    }
    return { status: 'AUTHORISED', updatedAt: state.extensions?.at(-1)?.at ?? authorised.at };
  }
  const awaitingEnd = Math.min(record.createdAt + AWAITING_SECONDS, record.expiresAt ?? Infinity);
  if (now >= awaitingEnd) {
    const due: EndedMarker = { at: awaitingEnd, rejectedBy: 'ASPSP', reason: 'CONSENT_EXPIRED' };
    return { status: 'REJECTED', updatedAt: due.at, rejection: due, due };
  }
  return { status: 'AWAITING_AUTHORISATION', updatedAt: record.createdAt };
}

/** OFB date-times: `YYYY-MM-DDThh:mm:ssZ`, UTC, no fractions. */
export function ofbDateTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** Seconds since the epoch of an OFB date-time; undefined when it is not one (or not a real date). */
export function parseOfbDateTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (Number.isNaN(ms) || ofbDateTime(ms / 1000) !== text) return undefined;
  return ms / 1000;
}

/** The consent as the API shows it (`data` of the Consents API v3 responses). */
export function consentData(state: ConsentState, now: number): Record<string, unknown> {
  const { record } = state;
  const status = statusAt(state, now);
  const expiresAt = currentExpiry(state);
  return {
    consentId: record.id,
    creationDateTime: ofbDateTime(record.createdAt),
    status: status.status,
    statusUpdateDateTime: ofbDateTime(status.updatedAt),
    permissions: record.permissions,
    ...(expiresAt !== undefined ? { expirationDateTime: ofbDateTime(expiresAt) } : {}),
    ...(status.rejection ? { rejection: { rejectedBy: status.rejection.rejectedBy, reason: { code: status.rejection.reason } } } : {}),
  };
}
