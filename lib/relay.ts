// Relay: receive once, fan out natively. Every datagram from an allowed
// source goes, byte for byte, from the buffer it landed in, to every member
// of a Group.
import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Endpoint, MEMBER_BYTES, packEndpoint, parseEndpoint } from './address';
import { argError, closedError, describeErrno, isArray, received, systemError } from './errors';
import { Group, GroupChange, isGroup, observeChanges, takeSnapshot } from './group';
import { Mailbox } from './mailbox';
import { addon, forAddon, NativeRelay } from './native';
import {
  AUTO_ZERO_COPY_MIN_BYTES, BackendName, SENDER_KEYS, SenderOptions, ZeroCopyMode, checkInteger, readObject, senderConfig,
} from './options';
import { packBind, socketFd, socketHandle } from './socket';
import type { UnreachableEvent } from './mailbox';

export interface RelayOptions extends Omit<SenderOptions, 'bind' | 'socket' | 'slots'> {
  /** Where to receive: 'host:port' ('0.0.0.0:5000', '[::]:5000'). Not with `socket`. */
  listen?: string;
  /** Receive on this bound dgram socket instead: the relay reads it from now on (it emits no more 'message'), and sends from it. Not with `listen`. */
  socket?: Socket;
  /**
   * Required: the sources whose datagrams are forwarded, as 'address' or
   * 'address:port' ('[v6]:port'); everything else is dropped and counted.
   * 'any' forwards whatever arrives: anyone who can reach the port can then
   * make the relay send to every member (an amplifier). Say it only on a
   * port nobody else can reach.
   */
  allow: readonly string[] | 'any';
  /** The members; adding and removing takes effect for the next datagram. */
  group: Group;
  /** Receive buffers (each a registered slot the datagram goes out from), 1 to 32768. Default: 256. */
  buffers?: number;
  /** Longest datagram forwarded, 1 to 65507; longer ones are dropped and counted (truncated). Default: 9000. */
  maxDatagram?: number;
}

export interface RelayStats {
  backend: BackendName;
  /** Datagrams that arrived. */
  received: number;
  /** Datagrams sent on to the members. */
  forwarded: number;
  /**
   * Of those, the ones whose sends are not all done and counted yet: the backlog behind members' links slower than the
   * input (sends and failures count the others', so with a constant group of N, sends + failures = (forwarded - pending) x N).
   */
  pending: number;
  /** Member sends the kernel accepted, and their bytes. */
  sends: number;
  bytes: number;
  /** Member sends that failed, by code. */
  failures: Record<string, number>;
  /**
   * Datagrams not forwarded: from a source not allowed, lost for want of buffers (socket drops), longer than maxDatagram,
   * arrived while the group was empty, or the relay's own come back (a broadcast or multicast member on its port).
   */
  dropped: { notAllowed: number; noBuffer: number; truncated: number; noMembers: number; looped: number };
  members: number;
  unreachable: number;
  staleRetries: number;
}

export const RELAY_DEFAULTS = Object.freeze({ buffers: 256, maxDatagram: 9000 });
// The most sources allow may list: each datagram's source is looked for
// among them one by one, and a length past it is a mistake (or a Proxy's).
const MAX_ALLOW = 65536;
// Room a receive buffer keeps in front of the datagram for io_uring's
// header, the source address and control messages.
const HEADER_ROOM = 256;
// A relay sends from its receive buffers: no payload slots (`slots`), no bind.
const RELAY_KEYS = [...SENDER_KEYS.filter((key) => key !== 'bind' && key !== 'slots'), 'listen', 'allow', 'group', 'buffers', 'maxDatagram'];
const ZERO_COPY: Record<string, number> = { false: 0, true: 1, auto: 2 };

const SOURCE_FORMS = "'10.0.0.1', '10.0.0.1:5004', '::1' or '[::1]:5004'";

function isSource(text: string): boolean {
  try {
    packSource(text, 0, new Uint8Array(MEMBER_BYTES));
    return true;
  } catch {
    return false;
  }
}

/** 'address', 'address:port' or '[v6]:port' as a packed member; port 0: any. */
function packSource(text: unknown, at: number, out: Uint8Array): void {
  const name = `options.allow[${at / MEMBER_BYTES}]`;
  if (typeof text !== 'string') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a string, received ${received(text)}`);
  if (text === 'any') throw argError('ERR_INVALID_ARG_VALUE', `${name}: 'any' is not a source; to forward from everyone, pass allow: 'any' itself`);
  if (!isIP(text) && !text.includes(':')) throw argError('ERR_INVALID_ARG_VALUE', `${name} must be a source such as ${SOURCE_FORMS}, received ${received(text)}`);
  const endpoint = isIP(text) ? parseEndpoint({ address: text, port: 0 }, undefined, name) : parseEndpoint(text, undefined, name);
  packEndpoint(endpoint, out, at);
}

function packAllow(allow: unknown): { allow: Uint8Array; allowCount: number; allowAny: boolean } {
  if (allow === 'any') return { allow: new Uint8Array(0), allowCount: 0, allowAny: true };
  if (allow === undefined) {
    throw argError('ERR_INVALID_ARG_TYPE', "options.allow is required: the source addresses to forward from, or 'any' (see the docs: a relay open to anyone is an amplifier)");
  }
  if (typeof allow === 'string') {
    const meant = allow.trim().toLowerCase() === 'any' ? "'any'" : isSource(allow) ? `['${allow}']` : `an array of ${SOURCE_FORMS}`;
    throw argError('ERR_INVALID_ARG_TYPE', `options.allow must be an array of sources or 'any', received the string ${received(allow)} (did you mean ${meant}?)`);
  }
  if (!isArray(allow)) {
    throw argError('ERR_INVALID_ARG_TYPE', `options.allow must be an array of sources (${SOURCE_FORMS}) or 'any', received ${received(allow)}`);
  }
  // Copied once, by index: the list checked is the list used (an
  // iterator of the user's could give another one each time).
  const length = allow.length;
  if (length > MAX_ALLOW) throw argError('ERR_OUT_OF_RANGE', `options.allow lists ${length} sources; at most ${MAX_ALLOW}`);
  const sources = Array.from({ length }, (_, i) => allow[i] as unknown);
  // A relay's sources are fixed when it is made: an empty list would forward nothing, ever.
  if (sources.length === 0) throw argError('ERR_INVALID_ARG_VALUE', "options.allow is empty: the relay would forward nothing; list the sources, or say 'any'");
  const packed = new Uint8Array(sources.length * MEMBER_BYTES);
  sources.forEach((text, i) => packSource(text, i * MEMBER_BYTES, packed));
  return { allow: packed, allowCount: sources.length, allowAny: false };
}

function listenBind(listen: unknown): { address: string; port: number } {
  if (typeof listen !== 'string') throw argError('ERR_INVALID_ARG_TYPE', "options.listen must be a 'host:port' string");
  const { address, port } = parseEndpoint(listen, undefined, 'options.listen');
  return { address, port };
}

export class Relay extends EventEmitter<{ unreachable: [event: UnreachableEvent] }> {
  readonly #native: NativeRelay;
  readonly #mailbox = new Mailbox({
    done: () => {},
    progress: () => {},
    unreachable: () => { this.#unreachableCount++; },
    closed: () => this.#finishClose(),
  }, this);
  #adopted: Socket | undefined;
  readonly #unobserve: () => void;
  #unreachableCount = 0;
  #closing = false;
  readonly #closed: Promise<void>;
  #onClosed!: () => void;

  constructor(options: RelayOptions) {
    super();
    const o = readObject(options, 'options', RELAY_KEYS);
    if (!isGroup(o.group)) throw argError('ERR_INVALID_ARG_TYPE', 'options.group must be a Group');
    if ((o.listen === undefined) === (o.socket === undefined)) {
      throw argError('ERR_INVALID_ARG_VALUE', 'options.listen or options.socket (one of them) says where the relay receives');
    }
    const config = senderConfig({ ...o, bind: o.listen === undefined ? undefined : listenBind(o.listen) });
    const buffers = o.buffers === undefined ? RELAY_DEFAULTS.buffers : checkInteger(o.buffers, 'options.buffers', 1, addon.limits.maxRelayBuffers);
    const maxDatagram = o.maxDatagram === undefined ? RELAY_DEFAULTS.maxDatagram : checkInteger(o.maxDatagram, 'options.maxDatagram', 1, 65507);
    const where = config.socket ? { fd: socketFd(config.socket) } : { bind: packBind(config.bind) };
    const allow = packAllow(o.allow);
    // The members last, with no user code after them: an edit before the
    // relay follows the group would be missed.
    const { members, table, count } = o.group[takeSnapshot]();
    this.#closed = new Promise((resolve) => { this.#onClosed = resolve; });
    try {
      this.#native = new addon.NativeRelay(forAddon({
        ...where,
        backend: config.backend, queueDepth: config.queueDepth, slots: 1, registerBuffers: config.registerBuffers,
        sendBufferSize: config.sendBufferSize, threads: config.threads, inlineBelow: config.inlineBelow, socketOptions: config.socketOptions,
        deferTaskrun: process.env.SENDGROUP_NO_DEFER_TASKRUN !== '1',
        ...allow, table, count, ids: Float64Array.from(members, (member) => member.id),
        zeroCopy: ZERO_COPY[String(config.zeroCopy as ZeroCopyMode)]!, zeroCopyMinBytes: AUTO_ZERO_COPY_MIN_BYTES,
        buffers, bufferSize: maxDatagram + HEADER_ROOM, maxDatagram,
      }), () => this.#deliver(this.#native.take()), this.#mailbox.numbers, this.#mailbox.attachments);
    } catch (error) {
      throw systemError(error);
    }
    // The relay reads the adopted socket from now on (dgram again after close()).
    this.#adopted = config.socket;
    if (config.socket) socketHandle(config.socket)?.recvStop?.();
    this.#unobserve = o.group[observeChanges]((change) => this.#apply(change));
  }

  /** Where the relay receives (and sends from). */
  address(): Endpoint {
    if (this.#closing) throw closedError('Relay');
    return this.#native.address();
  }

  /** Figures to export; after close(), as they ended. */
  stats(): RelayStats {
    const n = this.#native.stats();
    const failures: Record<string, number> = {};
    for (const [errno, count] of Object.entries(n.failures)) failures[describeErrno(Number(errno)).code] = count;
    return {
      backend: n.backend, received: n.received, forwarded: n.forwarded, pending: n.pending, sends: n.sends, bytes: n.bytes, failures,
      dropped: { notAllowed: n.notAllowed, noBuffer: n.noBuffer, truncated: n.truncated, noMembers: n.noMembers, looped: n.looped },
      members: n.members, unreachable: this.#unreachableCount, staleRetries: n.staleRetries,
    };
  }

  /** Receives what already waits in the socket, then stops receiving, lets what is in flight finish, then releases everything. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#unobserve();
      this.#closing = true;
      this.#deliver(this.#native.close());
    }
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #finishClose(): void {
    // The user's socket, if still open, is theirs to read again.
    if (this.#adopted) socketHandle(this.#adopted)?.recvStart?.();
    this.#onClosed();
  }

  #apply(change: GroupChange): void {
    if (change.kind === 'add') this.#native.add(change.packed, change.id);
    else if (change.kind === 'remove') this.#native.remove(change.id);
    else this.#native.clear();
  }

  #deliver(count: number): void {
    if (count) this.#mailbox.read(count, () => this.#native.take());
  }

}
