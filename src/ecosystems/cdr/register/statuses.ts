/**
 * The CDR Register's statuses of data recipients (legal entities) and their software products, as the
 * gateway last heard them, and what they mean for a software product's clients: ACTIVE may do
 * anything, INACTIVE may only revoke, REMOVED loses its arrangements and its registration.
 */
export type Standing = 'ACTIVE' | 'INACTIVE' | 'REMOVED';

export interface RegisterStatuses {
  /** Software product id → status (ACTIVE, INACTIVE, REMOVED). */
  softwareProducts: Record<string, string>;
  /** Data recipient (legal entity) id → status (ACTIVE, SUSPENDED, REVOKED, SURRENDERED). */
  dataRecipients: Record<string, string>;
  /** The ETag of each list as last fetched: asked with If-None-Match next time. */
  etags: { softwareProducts?: string; dataRecipients?: string };
  /** When the Register last answered (ms), for each list. */
  fetchedAt: { softwareProducts?: number; dataRecipients?: number };
}

export const emptyStatuses = (): RegisterStatuses => ({ softwareProducts: {}, dataRecipients: {}, etags: {}, fetchedAt: {} });

/**
 * A software product's standing: the worse of its own status and its data recipient's (a suspended
 * recipient's products are inactive; a revoked or surrendered recipient's are removed). A product or
 * recipient the Register has not listed counts as it stood when its statement was accepted: active.
 */
export function standingOf(statuses: RegisterStatuses, softwareId: string | undefined, legalEntityId: string | undefined): Standing {
  const product = softwareId === undefined ? undefined : statuses.softwareProducts[softwareId];
  const recipient = legalEntityId === undefined ? undefined : statuses.dataRecipients[legalEntityId];
  if (product === 'REMOVED' || recipient === 'REVOKED' || recipient === 'SURRENDERED') return 'REMOVED';
  if ((product !== undefined && product !== 'ACTIVE') || (recipient !== undefined && recipient !== 'ACTIVE')) return 'INACTIVE';
  return 'ACTIVE';
}

/** The status lists as the Register answers them (v1's named arrays and v2/v3's `data`), or undefined when the shape is not one of them. */
export function parseSoftwareProducts(body: unknown): Record<string, string> | undefined {
  return parseList(body, 'softwareProducts', ['softwareProductId'], ['status', 'softwareProductStatus']);
}

export function parseDataRecipients(body: unknown): Record<string, string> | undefined {
  return parseList(body, 'dataRecipients', ['legalEntityId', 'dataRecipientId'], ['status', 'dataRecipientStatus']);
}

function parseList(body: unknown, legacyName: string, idNames: string[], statusNames: string[]): Record<string, string> | undefined {
  const document = body as Record<string, unknown> | null;
  const list = Array.isArray(document?.data) ? document.data : Array.isArray(document?.[legacyName]) ? (document[legacyName] as unknown[]) : undefined;
  if (!list) return undefined;
  const out: Record<string, string> = {};
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const e = entry as Record<string, unknown>;
    const id = idNames.map((n) => e[n]).find((v) => typeof v === 'string');
    const status = statusNames.map((n) => e[n]).find((v) => typeof v === 'string');
    if (typeof id !== 'string' || typeof status !== 'string') return undefined;
    out[id] = status.toUpperCase();
  }
  return out;
}
