// A group of recipients kept in send order, with the packed address table
// the addon reads maintained alongside, so a send never re-parses addresses.
import { argError, isRevoked, received } from './errors';
import { Endpoint, MEMBER_BYTES, Target, packEndpoint, parseEndpoint } from './address';

export interface Member extends Endpoint {
  /** Stable for the member's life in this group; never reused by it. */
  readonly id: number;
}

/** What one send reads: the members in order and their packed addresses. */
export interface GroupSnapshot {
  readonly members: readonly Member[];
  readonly table: Uint8Array;
  readonly count: number;
}

/** @internal A change, as a relay that keeps its own copy of the table applies it. */
export type GroupChange = { kind: 'add'; id: number; packed: Uint8Array } | { kind: 'remove'; id: number } | { kind: 'clear' };

/** @internal The key of Group's observe(fn) (which returns the unsubscribe function): not part of the API. */
export const observeChanges = Symbol('sendgroup.observeChanges');

/** @internal The key of Group's snapshot(): not part of the API, and no subclass's method of that name is taken for it. */
export const takeSnapshot = Symbol('sendgroup.snapshot');

let hasGroupFields: (value: object) => boolean;

/** A Group made by its constructor (its own private fields), not an object made from its prototype. */
export function isGroup(value: unknown): value is Group {
  return typeof value === 'object' && value !== null && hasGroupFields(value);
}

export class Group implements Iterable<Member> {
  // In send order, which is id order (ids only grow, removal keeps order),
  // so a member is found by binary search. A removed member stays, listed
  // in #removed, until something reads the order or the removed outnumber
  // the rest (#compact): removing k of n members costs one pass, not k.
  #members: Member[] = [];
  static {
    hasGroupFields = (value) => #members in value;
  }
  readonly #removed = new Set<number>();
  readonly #observers = new Set<(change: GroupChange) => void>();
  #table = new Uint8Array(tableBytes(0));
  #nextId = 1;
  // Set while a send may still read #members and #table: compaction and
  // clear() then make new ones (appending is safe, a snapshot only reads
  // its first `count` entries).
  #shared = false;
  // The last snapshot, handed out again until the group changes.
  #snapshot: GroupSnapshot | undefined;

  constructor(targets?: Iterable<Target>) {
    if (targets === undefined) return;
    if (isRevoked(targets) || typeof (targets as Iterable<Target>)?.[Symbol.iterator] !== 'function' || typeof targets === 'string') {
      throw argError('ERR_INVALID_ARG_TYPE', 'targets must be an iterable of \'host:port\' strings or { address, port } objects');
    }
    let index = 0;
    for (const target of targets) this.#append(parseEndpoint(target, undefined, `targets[${index++}]`));
  }

  /** Adds a recipient ('127.0.0.1:5004', '[::1]:5004' or { address, port }) at the end of the send order; returns its id. */
  add(target: Target): number;
  /** Adds a recipient given as an IP literal and a port at the end of the send order; returns its id. */
  add(address: string, port: number): number;
  add(target: unknown, port?: unknown): number {
    return this.#append(parseEndpoint(target, port)).id;
  }

  /** Removes a member; false when no member has this id. */
  remove(id: number): boolean {
    if (!this.has(id)) return false;
    this.#removed.add(id);
    this.#snapshot = undefined;
    this.#notify({ kind: 'remove', id });
    // A group nothing sends from or lists (one only a Relay follows) would keep them all.
    if (this.#removed.size > this.size) this.#compact();
    return true;
  }

  has(id: number): boolean {
    // A number only: anything else would be compared (valueOf: user code) in the search.
    if (typeof id !== 'number') throw argError('ERR_INVALID_ARG_TYPE', `id must be a member's id (a number), received ${received(id)}`);
    return this.#indexOf(id) >= 0 && !this.#removed.has(id);
  }

  clear(): void {
    this.#members = [];
    this.#removed.clear();
    if (this.#shared || this.#table.length > tableBytes(0)) this.#table = new Uint8Array(tableBytes(0));
    this.#shared = false;
    this.#snapshot = undefined;
    this.#notify({ kind: 'clear' });
  }

  get size(): number {
    return this.#members.length - this.#removed.size;
  }

  [Symbol.iterator](): Iterator<Member> {
    // Reached by whatever iterates targets (sendGroup, new Group(g)): an
    // object made from the prototype has no private fields to read.
    if (!isGroup(this)) throw argError('ERR_INVALID_ARG_TYPE', 'an object made from Group.prototype is no Group (make one with new Group()), nor an iterable of targets');
    this.#compact();
    return this.#members.slice()[Symbol.iterator]();
  }

  /** @internal Calls fn with each change from now on; returns what stops it. */
  [observeChanges](fn: (change: GroupChange) => void): () => void {
    this.#observers.add(fn);
    return () => this.#observers.delete(fn);
  }

  #notify(change: GroupChange): void {
    for (const fn of this.#observers) fn(change);
  }

  /** @internal The current members for one send; later changes do not touch it. */
  [takeSnapshot](): GroupSnapshot {
    this.#compact();
    this.#shared = true;
    return this.#snapshot ??= Object.freeze({ members: this.#members, table: this.#table, count: this.#members.length });
  }

  #append(endpoint: Endpoint): Member {
    const at = this.#members.length * MEMBER_BYTES;
    if (at + MEMBER_BYTES > this.#table.length) {
      const grown = new Uint8Array(this.#table.length * 2);
      grown.set(this.#table);
      this.#table = grown;
    }
    packEndpoint(endpoint, this.#table, at);
    const member: Member = Object.freeze({ id: this.#nextId++, ...endpoint });
    this.#members.push(member);
    this.#snapshot = undefined;
    if (this.#observers.size) this.#notify({ kind: 'add', id: member.id, packed: this.#table.subarray(at, at + MEMBER_BYTES) });
    return member;
  }

  /** The index of the member with this id in #members (removed or not), or -1. */
  #indexOf(id: number): number {
    let low = 0;
    let high = this.#members.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.#members[middle]!.id;
      if (at === id) return middle;
      if (at < id) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /**
   * Drops the removed members from #members and the table in one pass: into
   * new ones while a send may read them, or when the table is four times
   * the size the members left need (a group that shrank gives memory back).
   */
  #compact(): void {
    if (this.#removed.size === 0) return;
    const from = this.#table;
    const fits = tableBytes(this.size);
    const to = this.#shared || from.length > 4 * fits ? new Uint8Array(fits) : from;
    const kept: Member[] = [];
    // Members start..end (all kept) go to the end of `kept` and their entries after the last kept one.
    const keep = (start: number, end: number): void => {
      const at = kept.length * MEMBER_BYTES;
      if (to === from) to.copyWithin(at, start * MEMBER_BYTES, end * MEMBER_BYTES);
      else to.set(from.subarray(start * MEMBER_BYTES, end * MEMBER_BYTES), at);
      for (let i = start; i < end; i++) kept.push(this.#members[i]!);
    };
    let runStart = 0;  // the first of the kept members not moved yet
    this.#members.forEach((member, index) => {
      if (!this.#removed.has(member.id)) return;
      keep(runStart, index);
      runStart = index + 1;
    });
    keep(runStart, this.#members.length);
    this.#members = kept;
    this.#table = to;
    this.#removed.clear();
    this.#shared = false;
  }
}

/** A table's bytes for `count` members and as many more (a power of two, 16 at least). */
function tableBytes(count: number): number {
  return MEMBER_BYTES * Math.max(16, 2 ** Math.ceil(Math.log2(2 * count)));
}
