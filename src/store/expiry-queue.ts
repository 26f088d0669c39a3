/**
 * An index's members by expiry, soonest first (ties: the lowest member, as Redis orders a sorted
 * set): a binary min-heap over two parallel arrays. Why: an index at its bound (a client's 100,000
 * grants by default) drops its soonest member on every addition, and finding it by a scan cost
 * milliseconds per grant at that size. The heap finds it in O(log n).
 *
 * Deletion is lazy: the heap is never searched. A member whose expiry changed is pushed again, and a
 * dropped one is left in place; an entry counts only while the index's map still gives its member
 * that expiry, and the others are discarded when they surface. The heap is rebuilt from the map when
 * discarded entries outnumber the live ones, so it stays within twice the index's size.
 */
export class ExpiryQueue {
  #expiries: number[] = [];
  #members: string[] = [];

  constructor(current: ReadonlyMap<string, number>) {
    this.#rebuild(current);
  }

  /** Records `member`'s new expiry (its old entry, if any, is discarded when it surfaces). */
  push(member: string, expiresAt: number, current: ReadonlyMap<string, number>): void {
    if (this.#expiries.length >= 2 * current.size + 64) return this.#rebuild(current);
    this.#expiries.push(expiresAt);
    this.#members.push(member);
    this.#up(this.#expiries.length - 1);
  }

  /** The live member soonest to expire, and its expiry; undefined when none is left. */
  soonest(current: ReadonlyMap<string, number>): [member: string, expiresAt: number] | undefined {
    while (this.#expiries.length > 0) {
      const member = this.#members[0];
      const expiresAt = this.#expiries[0];
      if (current.get(member) === expiresAt) return [member, expiresAt];
      this.#pop();
    }
    return undefined;
  }

  #rebuild(current: ReadonlyMap<string, number>): void {
    this.#expiries = [];
    this.#members = [];
    current.forEach((expiresAt, member) => {
      this.#expiries.push(expiresAt);
      this.#members.push(member);
    });
    for (let i = (this.#expiries.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  #pop(): void {
    const last = this.#expiries.length - 1;
    this.#swap(0, last);
    this.#expiries.pop();
    this.#members.pop();
    this.#down(0);
  }

  #before(i: number, j: number): boolean {
    const x = this.#expiries[i];
    const y = this.#expiries[j];
    return x < y || (x === y && this.#members[i] < this.#members[j]);
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#expiries.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < n && this.#before(left, first)) first = left;
      if (right < n && this.#before(right, first)) first = right;
      if (first === i) return;
      this.#swap(i, first);
      i = first;
    }
  }

  #swap(i: number, j: number): void {
    const expiresAt = this.#expiries[i];
    this.#expiries[i] = this.#expiries[j];
    this.#expiries[j] = expiresAt;
    const member = this.#members[i];
    this.#members[i] = this.#members[j];
    this.#members[j] = member;
  }
}
