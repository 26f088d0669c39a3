/**
 * Short-lived, security-critical state. Every record has a TTL. Endpoints use only this interface,
 * so a replica-shared backend (Redis) can replace the in-memory one without touching them.
 */
export type RecordKind =
  | 'par' // pushed authorization requests, by request_uri
  | 'interaction' // login/consent in progress
  | 'session' // logged-in browser sessions
  | 'consent' // remembered consents (profiles that do not ask every time), by client and subject
  | 'code' // authorization codes (by hash)
  | 'code-redeemed' // one-time marker: a code has been exchanged (value: grant id)
  | 'grant' // grants that tokens point to
  | 'grant-ended' // ended grants, kept while their access tokens may live
  | 'refresh' // refresh tokens (by hash)
  | 'jti' // replay cache for client assertions
  | 'dpop-jti' // replay cache for DPoP proofs, by key thumbprint and jti
  | 'revoked-at' // revoked access token ids
  | 'login-failures' // failed logins and lockouts, by username digest or client address
  | 'totp-used' // one-time codes already accepted, by subject and time step
  | 'interaction-ref' // the opaque id a bank login knows an interaction by → the pushed request's id
  | 'client' // registered clients (RFC 7591), by client_id: long-lived by design, until deleted
  | 'client-software' // one registration per software_id (where the ecosystem wants it): client_id, as long as the client
  | 'client-ended' // deleted registered clients, kept while their access tokens may live
  | 'arrangement' // an ecosystem's consent or arrangement by its id, as long as it lasts (and as long after as the ecosystem reports on it)
  | 'notice' // outbound notices waiting for delivery (an ecosystem's durable queue), until delivered or given up
  | 'notice-lease' // which replica is delivering a notice now, for as long as one attempt may take
  | 'eco-consent' // an ecosystem's consents (e.g. Open Finance Brasil), by id: the record as created
  | 'eco-consent-state' // one-time state markers of those consents (authorised, ended), set at most once each
  | 'ecosystem' // an ecosystem pack's shared state (a register's statuses, a poller's lease, replay caches), ids chosen by the pack
  | 'statement-used' // software statements spent on a registration (where the ecosystem allows one each), by digest, while they are fresh
  | 'payment-consent' // Open Finance Brasil payment consents, by consent id
  | 'message-jti' // replay cache of signed request bodies (ecosystem APIs), by client and jti
  | 'idempotency'; // answers kept for idempotency keys, by client and key

/** Long-lived sets: the ids of registered clients (bounded by `registration.maxClients`). */
export type SetKind = 'registered-clients' | 'pending-notices' | 'arrangements'; // pending-notices: ids of 'notice' records (bounded by the queue's size); arrangements: ids of 'arrangement' records (bounded by the ecosystem's settings)

/**
 * Bounded, expiring indexes of ids under a key (e.g. a customer's grants): each member has its own
 * expiry; the key goes when its last member's time is up.
 */
export type IndexKind =
  | 'grants-by-subject' // a customer's grants, by subject: grant ids until each grant's end
  | 'grants-by-client' // a client's customer grants, by client_id: grant ids until each grant's end
  | 'grant-trail'; // a grant's life (created, refreshed, amended, ended), by grant id: entries kept a retention period past its end

export interface IndexEntry {
  kind: IndexKind;
  key: string;
  member: string;
  /** Seconds since the epoch after which the member is gone. */
  expiresAt: number;
  /** Past this many live members under the key, those soonest to expire go (ties: the lowest member first). */
  max: number;
}

/**
 * One step of `Store.sequence`: a record written (`ifAbsent`: only when no live record exists, else
 * the sequence stops here); a check that a record is absent, present, or holds exactly a value
 * (`unchanged`: its JSON is the value's), each stopping the sequence when it is not so; a record
 * taken (deleted, stopping the sequence when there was none: a one-time consumption); or a member
 * added to a bounded set (never stops it).
 */
export type SequenceStep =
  | { set: RecordKind; id: string; value: unknown; ttlSeconds: number; ifAbsent?: boolean }
  | { absent: RecordKind; id: string }
  | { present: RecordKind; id: string }
  | { unchanged: RecordKind; id: string; value: unknown }
  | { take: RecordKind; id: string }
  | { addMember: SetKind; member: string; max: number };

/**
 * What each step that ran did, in order: true (written, or found absent), false (a live record
 * was found: the sequence stopped there, and it is the last entry), or addMember's outcome.
 */
export type SequenceOutcome = Array<boolean | 'added' | 'present' | 'full'>;

/** What a change-notice subscriber hears: a notice, or that notices may have been missed (and from when on they arrive again). */
export type ChangeNotice = { type: 'message'; message: string } | { type: 'interrupted' } | { type: 'live' };

/** The keys of records read together, one `[kind, id]` per element of the tuple `T` of their types. */
export type RecordKeys<T extends readonly unknown[]> = { readonly [I in keyof T]: readonly [RecordKind, string] };
/** Those records, in the same order, each undefined when it is not live. */
export type RecordsRead<T extends readonly unknown[]> = { -readonly [I in keyof T]: T[I] | undefined };

export interface Store {
  /** Writes (or overwrites) a record that expires after `ttlSeconds`. */
  set(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** Writes only when no live record exists; true when this call wrote it. Atomic across replicas. */
  setIfAbsent(kind: RecordKind, id: string, value: unknown, ttlSeconds: number): Promise<boolean>;
  get<T>(kind: RecordKind, id: string): Promise<T | undefined>;
  /** Several records in one round trip (one command where the backend can), in the order asked. */
  getMany<T extends readonly unknown[]>(keys: RecordKeys<T>): Promise<RecordsRead<T>>;
  /** Reads and deletes in one atomic step: of two concurrent callers, only one gets the record. */
  consume<T>(kind: RecordKind, id: string): Promise<T | undefined>;
  /** True when any of the named records is live (one round trip). */
  anyExists(keys: ReadonlyArray<readonly [RecordKind, string]>): Promise<boolean>;
  delete(kind: RecordKind, id: string): Promise<void>;
  /**
   * Runs the steps in order, stopping at the first that finds a live record it must not (see
   * SequenceStep), as one atomic step in one round trip where the backend can (the memory store, a
   * single Redis or Sentinel: one script); on a Redis Cluster, whose keys live on different nodes,
   * one step after the other. Either way a later step never runs before an earlier one, and what
   * ran stays when a step fails or stops the sequence.
   */
  sequence(steps: readonly SequenceStep[]): Promise<SequenceOutcome>;
  /**
   * A copy of a record this replica wrote or read lately, kept by a backend that replicas share so
   * that a step can skip reading back what an earlier step of the same flow left here (a browser's
   * or a client's connection stays with one replica). It may be stale or gone from the store: a
   * write that depends on it guards on it in the same sequence (`present`, `unchanged`). Backends
   * that answer every read without a round trip have none.
   */
  copy?<T>(kind: RecordKind, id: string): T | undefined;
  /** Adds `member` unless the set holds `max` members already: 'full' then. Atomic across replicas. */
  addMember(set: SetKind, member: string, max: number): Promise<'added' | 'present' | 'full'>;
  removeMember(set: SetKind, member: string): Promise<void>;
  members(set: SetKind): Promise<string[]>;
  /** Adds members to their indexes, all in one round trip (see IndexKind). Adding a present member updates its expiry. */
  index(entries: readonly IndexEntry[]): Promise<void>;
  /** The live members of an index, soonest to expire first. */
  indexMembers(kind: IndexKind, key: string): Promise<string[]>;
  unindex(kind: IndexKind, key: string, member: string): Promise<void>;
  /** Sends a change notice to every replica's subscribers of `channel` (this one's included). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Hears `channel`'s notices. 'interrupted': notices may be lost until the next 'live' (a replica
   * must then not trust what it cached); 'live' comes once the subscription is in place, and again
   * after every interruption.
   */
  subscribe(channel: string, listener: (notice: ChangeNotice) => void): void;
  /** Resolves when the backend answers; used by readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Calls `listener` on every connection problem of the backend, with its cause (backends that have any). */
  onProblem?(listener: (problem: StoreProblem) => void): void;
}

/** Why the backend cannot serve, as readiness reports it and the log names it. */
export type StoreProblemCause =
  | 'authentication failed'
  | 'permission denied'
  | 'connection refused'
  | 'unknown host'
  | 'not responding'
  | 'TLS handshake failed'
  | 'out of memory'
  | 'server busy'
  | 'unreachable';

export interface StoreProblem {
  cause: StoreProblemCause;
  /** The backend's own words (never a credential). */
  detail: string;
}

/**
 * The backend cannot serve right now (unreachable, failing over, loading). Stores fail closed with it
 * rather than guessing, so endpoints can answer 503 `temporarily_unavailable`.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';

  constructor(
    message = 'state store unavailable',
    options?: ErrorOptions,
    readonly reason: StoreProblemCause = 'unreachable',
  ) {
    super(message, options);
  }
}
