// The addon's surface, declared once. lib/ talks to native code only through
// these types. Errnos cross the boundary positive, as C has them;
// lib/errors.ts turns them into Node's codes and negative errnos, once.
import * as path from 'node:path';

/** Per-recipient bytes as the addon takes them: a fresh array or object of validated values. */
export type NativeExtras = Uint8Array[] | { data: Uint8Array; stride: number } | undefined;

export interface NativeSocketOptions {
  ttl?: number;
  tos?: number;
  /** 0 or 1 */
  broadcast?: number;
  multicastTtl?: number;
  /** 0 or 1 */
  multicastLoopback?: number;
  /** One packed member: an IPv4 address, or '::' with the interface index as its zone. */
  multicastInterface?: Uint8Array;
}

export interface NativeSenderOptions {
  /** One packed member (address.ts) to bind to; [::] falls back to 0.0.0.0 without IPv6. */
  bind?: Uint8Array;
  /** A bound UDP socket's descriptor to send through instead (duplicated, never closed). */
  fd?: number;
  backend: 'auto' | 'io_uring' | 'sendmmsg';
  queueDepth: number;
  slots: number;
  registerBuffers: boolean;
  /** 0: the kernel's default. */
  sendBufferSize: number;
  /** Set once on each socket; a key left out keeps the kernel's default. */
  socketOptions: NativeSocketOptions;
  /** false: set the ring up as a kernel without DEFER_TASKRUN would. */
  deferTaskrun: boolean;
  /** 0: send inline on this thread; K: on K native threads. */
  threads: number;
  /** With threads: calls to fewer members go inline while the threads are idle (0: none). */
  inlineBelow: number;
}

/** What io_uring offers; probe() reports it for the kernel, Sender.features for one ring. */
export interface RingCapabilities {
  /** DEFER_TASKRUN accepted: completions run only when the sender asks. */
  deferTaskrun: boolean;
  /** IORING_SETUP_SUBMIT_ALL accepted: one bad member never stops a batch. */
  submitAll: boolean;
  /** IORING_OP_SEND with a destination address: copy sends without a msghdr. */
  sendWithAddr: boolean;
  sendZc: boolean;
  sendmsgZc: boolean;
  /** Zero-copy sends can tell whether the kernel copied after all. */
  reportUsage: boolean;
  /** SENDMSG_ZC over registered buffers (prefix/suffix sends without page pinning). */
  sendmsgZcFixed: boolean;
  /** Payload slots could be registered as fixed buffers (RLIMIT_MEMLOCK allows it). */
  fixedBuffers: boolean;
}

export interface NativeFeatures extends RingCapabilities {
  backend: 'io_uring' | 'sendmmsg';
  ioUringErrno: number;
  queueDepth: number;
  fixedBuffersErrno: number;
  zeroCopyRefusedErrno: number;
  /** Sends that picked up another datagram's ICMP error and went again (a counter, for stats()). */
  staleRetries: number;
}

export interface NativeProbe extends RingCapabilities {
  ioUring: boolean;
  ioUringErrno: number;
  fixedBuffersErrno: number;
  gso: boolean;
  gsoErrno: number;
  sendmmsg: boolean;
  sendmmsgErrno: number;
}

/** What a call's zero-copy came to (native/outbox.h), as ZeroCopyOutcome's 'off', 'zero-copied', 'copied'. */
export const enum NativeZeroCopy {
  Off = 0,
  ZeroCopied = 1,
  Copied = 2,
}

/**
 * Mailbox records (native/outbox.h): `recordDoubles` numbers each,
 * [kind, token, a, b, c, d], and the attachment of record i at index i.
 */
export const enum RecordKind {
  /** a sent, b failed, c bytes, d NativeZeroCopy; attachment (member, errno) pairs when b > 0 */
  Done = 1,
  /** attachment: (member, bytes, errno) triples */
  Progress = 2,
  /** a 4|6, b port, c errno; attachment: the address */
  Unreachable = 3,
  Closed = 4,
}

/** An opaque handle: a member table the addon parsed (native/args.h TableHandle). */
export type NativeTable = { readonly __brand: 'NativeTable' };

/**
 * Starts a call; returns how many records it left in the mailbox. The call's
 * token, member count, zeroCopy, segmentSize and stream are in the mailbox
 * (Mailbox.writeCall); prefix and suffix may be left out together when the
 * call has neither.
 */
export type NativeSend = (table: Uint8Array | NativeTable, payload: Uint8Array, prefix?: NativeExtras, suffix?: NativeExtras) => number;

export interface NativeSender {
  /** The sender's send, bound to it (no per-call lookup of the native object); it throws once the sender is gone. */
  sendFunction(): NativeSend;
  /** Each of these returns how many records it left in the mailbox. */
  /** A packed member table parsed once for this sender's socket, for send() again and again. */
  table(table: Uint8Array, count: number): NativeTable;
  abort(token: number): number;
  /** Cancels what is not sent; a Closed record follows once the kernel is done with it all. */
  close(): number;
  /** Records that waited (after `notify`, or when one call left more than a mailbox holds). */
  take(): number;
  /** true: stay alive (not collected) while events have listeners. */
  hold(on: boolean): void;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  features(): NativeFeatures;
}

export interface NativeLimits {
  maxQueueDepth: number;
  maxSlots: number;
  maxThreads: number;
  maxRelayBuffers: number;
  maxRelayBufferSize: number;
  maxSendBytes: number;
  mailboxRecords: number;
  recordDoubles: number;
  /** Where a call's numbers start in the mailbox, and how many there are (Mailbox.writeCall). */
  callAt: number;
  callFields: number;
}

export interface NativeRelayOptions extends NativeSenderOptions {
  /** Packed members (address.ts); port 0: any port. */
  allow: Uint8Array;
  allowCount: number;
  allowAny: boolean;
  /** The group's packed table and member count when the relay starts. */
  table: Uint8Array;
  count: number;
  /** Their ids in the group, in the same order. */
  ids: Float64Array;
  /** 0 never, 1 always, 2 from zeroCopyMinBytes up. */
  zeroCopy: number;
  zeroCopyMinBytes: number;
  buffers: number;
  /** Bytes per receive buffer: the longest datagram and room for its header. */
  bufferSize: number;
  /** Longer datagrams are dropped and counted as truncated. */
  maxDatagram: number;
}

export interface NativeRelayStats {
  backend: 'io_uring' | 'sendmmsg';
  received: number;
  forwarded: number;
  pending: number;
  sends: number;
  bytes: number;
  notAllowed: number;
  noMembers: number;
  noBuffer: number;
  truncated: number;
  looped: number;
  members: number;
  staleRetries: number;
  /** Failed member sends by errno (positive). */
  failures: Record<string, number>;
}

export interface NativeRelay {
  /** A packed member and its id in the Group; takes effect for the next datagram, as do the others. */
  add(packed: Uint8Array, id: number): void;
  remove(id: number): void;
  clear(): void;
  /** Each returns how many records it left in the mailbox (only 'unreachable' and closed). */
  take(): number;
  close(): number;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  stats(): NativeRelayStats;
}

export interface Addon {
  /** notify is called from the event loop, never inside a call into the addon, when records wait. */
  NativeSender: new (options: NativeSenderOptions, notify: () => void, mailbox: Float64Array, attachments: unknown[]) => NativeSender;
  NativeRelay: new (options: NativeRelayOptions, notify: () => void, mailbox: Float64Array, attachments: unknown[]) => NativeRelay;
  probe(): NativeProbe;
  limits: NativeLimits;
}

const root = path.join(__dirname, '..');

/** Loads build/Release, build/Debug, then prebuilds/<platform>-<arch> (node-gyp-build's order). */
function load(): Addon {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as Addon;
  } catch (error) {
    const tried = ['build/Release/sendgroup.node', 'build/Debug/sendgroup.node', `prebuilds/${process.platform}-${process.arch}/*.node`]
      .map((file) => path.join(root, file));
    throw new Error(`sendgroup: no native addon loads for ${process.platform}-${process.arch}, Node ${process.version}. ` +
      `Tried ${tried.join(', ')}: ${(error as Error).message}. ` +
      'Build it from source: install g++, make, python3 and liburing-dev (Debian/Ubuntu: apt-get install -y g++ make python3 liburing-dev), ' +
      'then run `npm rebuild sendgroup`.', { cause: error });
  }
}

export const addon: Addon = load();

/** An object for the addon to read: without a prototype, a key lib left out (fd, ttl, ...) reads as absent there, whatever Object.prototype holds. */
export function forAddon<T extends object>(fields: T): T {
  return Object.assign(Object.create(null) as T, fields);
}
