// A group of recipients kept in send order, with the packed address table
// the addon reads maintained alongside, so a send never re-parses addresses.
import { argError } from './errors';
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
export type GroupChange = { kind: 'add'; packed: Uint8Array } | { kind: 'remove'; index: number } | { kind: 'clear' };

/** @internal The key of Group's observe(fn) (which returns the unsubscribe function): not part of the API. */
export const observeChanges = Symbol('sendgroup.observeChanges');

export class Group implements Iterable<Member> {
  #members: Member[] = [];
  readonly #observers = new Set<(change: GroupChange) => void>();
  #table = new Uint8Array(MEMBER_BYTES * 16);
  #nextId = 1;
  // Set while a send may still read #members and #table: the next removal
  // or clear copies first (appending is safe, a snapshot only reads its
  // first `count` entries).
  #shared = false;
  // The last snapshot, handed out again until the group changes.
  #snapshot: GroupSnapshot | undefined;

  constructor(targets?: Iterable<Target>) {
    if (targets === undefined) return;
    if (typeof (targets as Iterable<Target>)?.[Symbol.iterator] !== 'function' || typeof targets === 'string') {
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
    const index = this.#members.findIndex((member) => member.id === id);
    if (index < 0) return false;
    this.#unshare();
    this.#snapshot = undefined;
    this.#members.splice(index, 1);
    this.#table.copyWithin(index * MEMBER_BYTES, (index + 1) * MEMBER_BYTES, (this.#members.length + 1) * MEMBER_BYTES);
    this.#notify({ kind: 'remove', index });
    return true;
  }

  has(id: number): boolean {
    return this.#members.some((member) => member.id === id);
  }

  clear(): void {
    this.#members = [];
    if (this.#shared) this.#table = new Uint8Array(this.#table.length);
    this.#shared = false;
    this.#snapshot = undefined;
    this.#notify({ kind: 'clear' });
  }

  get size(): number {
    return this.#members.length;
  }

  [Symbol.iterator](): Iterator<Member> {
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
  snapshot(): GroupSnapshot {
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
    // Past the members: a throw here (an IPv6 zone out of range) changes nothing, not even the next id.
    packEndpoint(endpoint, this.#table, at);
    const member: Member = Object.freeze({ id: this.#nextId++, ...endpoint });
    this.#members.push(member);
    this.#snapshot = undefined;
    if (this.#observers.size) this.#notify({ kind: 'add', packed: this.#table.subarray(at, at + MEMBER_BYTES) });
    return member;
  }

  #unshare(): void {
    if (!this.#shared) return;
    this.#members = this.#members.slice();
    this.#table = this.#table.slice();
    this.#shared = false;
  }
}
