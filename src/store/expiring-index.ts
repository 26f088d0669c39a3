/**
 * One index of the memory store (Store.index): members with their own expiry, in the order Redis
 * keeps a sorted set (soonest to expire first, then by member), with what the index would weigh as
 * the JSON object `{ member: expiresAt, … }` kept up to date. Adding a member costs a binary search
 * (and an append in the usual case, a member that expires last), not a rewrite of the whole index:
 * a client's index holds a member for every grant it has (up to grantManagement.maxGrantsPerClient).
 */
export class ExpiringIndex {
  /** [expiresAt, member], soonest first. */
  readonly #order: [number, string][] = [];
  readonly #expiry = new Map<string, number>();
  #jsonLength = 2;

  get size(): number {
    return this.#expiry.size;
  }

  /** The length of the index as a JSON object (what the store counts it as). */
  get jsonLength(): number {
    return this.#jsonLength;
  }

  /** When its last member expires (seconds since the epoch); undefined when empty. */
  get latestExpiry(): number | undefined {
    return this.#order.at(-1)?.[0];
  }

  /** The members still live at `now`, soonest to expire first. */
  members(now: number): string[] {
    let first = 0;
    while (first < this.#order.length && this.#order[first][0] <= now) first++;
    return this.#order.slice(first).map(([, member]) => member);
  }

  has(member: string): boolean {
    return this.#expiry.has(member);
  }

  /** Drops the members expired at `now`; returns them (to put back with `restore`). */
  prune(now: number): [number, string][] {
    let count = 0;
    while (count < this.#order.length && this.#order[count][0] <= now) count++;
    return this.#dropFirst(count);
  }

  /** Adds or moves `member`; returns its previous expiry. */
  set(member: string, expiresAt: number): number | undefined {
    const previous = this.#expiry.get(member);
    if (previous !== undefined) this.delete(member);
    const at = this.#position(expiresAt, member);
    if (at === this.#order.length) this.#order.push([expiresAt, member]);
    else this.#order.splice(at, 0, [expiresAt, member]);
    this.#expiry.set(member, expiresAt);
    this.#jsonLength += memberLength(member, expiresAt) + (this.#expiry.size > 1 ? 1 : 0);
    return previous;
  }

  /** Keeps the `max` members that expire last; returns those dropped. */
  trim(max: number): [number, string][] {
    return this.#dropFirst(Math.max(0, this.#order.length - max));
  }

  delete(member: string): void {
    const expiresAt = this.#expiry.get(member);
    if (expiresAt === undefined) return;
    this.#order.splice(this.#position(expiresAt, member), 1);
    this.#expiry.delete(member);
    this.#jsonLength -= memberLength(member, expiresAt) + (this.#expiry.size > 0 ? 1 : 0);
  }

  /** Puts back members that `prune` or `trim` dropped. */
  restore(dropped: [number, string][]): void {
    for (const [expiresAt, member] of dropped) this.set(member, expiresAt);
  }

  #dropFirst(count: number): [number, string][] {
    if (count === 0) return [];
    const dropped = this.#order.splice(0, count);
    for (const [expiresAt, member] of dropped) {
      this.#expiry.delete(member);
      this.#jsonLength -= memberLength(member, expiresAt) + (this.#expiry.size > 0 ? 1 : 0);
    }
    return dropped;
  }

  /** Where [expiresAt, member] is, or goes, in #order. */
  #position(expiresAt: number, member: string): number {
    let low = 0;
    let high = this.#order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const [e, m] = this.#order[mid];
      if (e < expiresAt || (e === expiresAt && m < member)) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/** `"member":expiresAt` as JSON.stringify writes it. */
const memberLength = (member: string, expiresAt: number) => JSON.stringify(member).length + 1 + JSON.stringify(expiresAt).length;
