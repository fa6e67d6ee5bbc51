// Option types, their defaults (one object) and limits, and the one place
// that checks and shapes them before anything reaches the addon. Every
// option is read once: the addon gets fresh values, never the user's objects.
import { Socket } from 'node:dgram';
import { types } from 'node:util';
import { argError, isArray, isRecord, received } from './errors';
import { readGiven, unknownInheritedKey } from './given';
import { addon, NativeExtras, NativeSocketOptions } from './native';
import { parseSocketOptions } from './socket';

/** true: always zero-copy; false: never; 'auto': only where it pays (see AUTO_ZERO_COPY_MIN_BYTES). */
export type ZeroCopyMode = boolean | 'auto';

/**
 * Per-recipient bytes, in send order: one Uint8Array per member, or one
 * buffer where member i's bytes are data[i * stride, (i + 1) * stride).
 */
export type PerRecipient = readonly Uint8Array[] | { data: Uint8Array; stride: number };

/** Anything sendGroup takes as a payload; strings are sent as UTF-8. */
export type Payload = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

export type BackendName = 'io_uring' | 'sendmmsg';

export interface SenderOptions {
  /** Local address and port of the UDP socket. Default: [::]:0, dual-stack (0.0.0.0:0 where IPv6 is missing); an IPv4 address gives an IPv4-only socket. Not with `socket`. */
  bind?: { address?: string; port?: number };
  /** Send from this bound dgram socket (its port, its address) instead of a socket of our own; it keeps receiving as before and close() leaves it open. Default: none. */
  socket?: Socket;
  /** 'io_uring', 'sendmmsg', or 'auto': io_uring when a ring can be set up, else sendmmsg. Default: 'auto'. */
  backend?: BackendName | 'auto';
  /** Default zero-copy mode for this sender's sends. Default: 'auto'. */
  zeroCopy?: ZeroCopyMode;
  /** Submission queue entries of the ring (the kernel rounds up to a power of two), 1 to 16384. Default: 1024. */
  queueDepth?: number;
  /** Payload slots of 64 KiB registered as fixed buffers, 1 to 1024. Default: 32 (2 MiB of locked memory). Calls beyond this many in flight use unregistered memory. */
  slots?: number;
  /** Register the slots with the kernel (fixed buffers). Default: true; refused registration (RLIMIT_MEMLOCK) falls back to unregistered memory by itself. */
  registerBuffers?: boolean;
  /** SO_SNDBUF of the socket in bytes (the kernel doubles it and caps it at net.core.wmem_max). Default: the kernel's (net.core.wmem_default). */
  sendBufferSize?: number;
  /** 0: send on this thread, inline; K: on K native threads (each with its own ring and socket), 0 to 64. Default: 0. */
  threads?: number;
  /**
   * With `threads`: a call to fewer members than this is sent on this thread (no hop to the threads and back, which costs more than
   * such a call's sends) when nothing is in flight on the threads; larger calls go to the threads when nothing is in flight on this
   * thread. While calls are in flight one way, every call goes that way (order per member). 0: every call goes to the threads.
   * Default: 100 (SENDGROUP_INLINE_BELOW, when set with threads).
   */
  inlineBelow?: number;
  /** Unicast TTL / IPv6 hop limit, 1 to 255 (dgram's setTTL). Default: the kernel's (net.ipv4.ip_default_ttl, 64). */
  ttl?: number;
  /** The IP TOS / IPv6 traffic class byte, 0 to 255: DSCP in the top six bits (EF is 46 << 2 = 184, AF41 34 << 2 = 136), ECN in the low two. Default: 0. */
  tos?: number;
  /** Allow sends to broadcast addresses (SO_BROADCAST, dgram's setBroadcast); without it they fail with EACCES. Default: false. */
  broadcast?: boolean;
  /** TTL / hop limit of multicast datagrams, 0 to 255 (dgram's setMulticastTTL). Default: 1 (the kernel's). */
  multicastTtl?: number;
  /** The interface multicast datagrams leave by (dgram's setMulticastInterface): an IPv4 address of it, or '::%N' with its interface index N for IPv6. Default: the kernel's choice by route. */
  multicastInterface?: string;
  /** Whether multicast datagrams loop back to receivers on this host (dgram's setMulticastLoopback). Default: true (the kernel's). */
  multicastLoopback?: boolean;
}

export interface SendOptions {
  /** Bytes sent before the payload, per recipient. Default: none. */
  prefix?: PerRecipient;
  /** Bytes sent after the payload, per recipient. Default: none. */
  suffix?: PerRecipient;
  /** Overrides the sender's zeroCopy for this call. Default: the sender's (itself 'auto' by default). */
  zeroCopy?: ZeroCopyMode;
  /** UDP GSO: cut each recipient's bytes into datagrams of this many bytes (the last may be shorter), 1 to 65535. Default: none, one datagram per recipient. */
  segmentSize?: number;
  /** Aborting cancels the members not yet sent; they are reported failed with ECANCELED. */
  signal?: AbortSignal;
}

/** Every Sender option's default, the one place they are written (docs/api.md's table matches it). */
export const SENDER_DEFAULTS = Object.freeze({
  bind: Object.freeze({ address: '::', port: 0 }),
  backend: 'auto' as BackendName | 'auto',
  zeroCopy: 'auto' as ZeroCopyMode,
  queueDepth: 1024,
  slots: 32,
  registerBuffers: true,
  /** 0: leave SO_SNDBUF at the kernel's default. */
  sendBufferSize: 0,
  /** SENDGROUP_THREADS sets it for a whole deployment (validated like the option). */
  threads: 0,
  /** SENDGROUP_INLINE_BELOW sets it for a whole deployment. Where threads: 2 begins to pay on 2 cores (docs/benchmarks.md, the crossover). */
  inlineBelow: 100,
});

/** The most inlineBelow can say: every call inline (a Group holds at most 2^32 - 1 members). */
const MAX_INLINE_BELOW = 0xffffffff;

/** inlineBelow as given, else SENDGROUP_INLINE_BELOW where it matters (with threads), else the default. */
function inlineBelowOf(value: unknown, threads: number): number {
  if (value !== undefined) return checkInteger(value, 'options.inlineBelow', 0, MAX_INLINE_BELOW);
  return threads ? envDefault('SENDGROUP_INLINE_BELOW', SENDER_DEFAULTS.inlineBelow, MAX_INLINE_BELOW) : SENDER_DEFAULTS.inlineBelow;
}

/** An environment variable, when set: the default of an integer option (validated like the option). */
function envDefault(variable: string, fallback: number, max: number): number {
  const text = process.env[variable];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text)) {
    throw argError('ERR_INVALID_ARG_VALUE', `${variable} must be an integer from 0 to ${max}, received ${received(text)}`);
  }
  return checkInteger(Number(text), variable, 0, max);
}

/**
 * 'auto' uses zero-copy from this many bytes per send operation. Measured on
 * this project's machines (bench/, docs/benchmarks.md): at 8,000 bytes a
 * zero-copy send costs about 1.3x less CPU than a copy, at 1,200 bytes it
 * gains nothing, and published UDP figures agree it loses below a few KB.
 */
export const AUTO_ZERO_COPY_MIN_BYTES = 8000;

/**
 * When the kernel reports that an 'auto' zero-copy send was copied anyway
 * (loopback, a device without scatter-gather, IP fragmentation), zero-copy
 * only costs more there: the Sender's next this many 'auto' calls copy, then
 * it tries zero-copy again.
 */
export const AUTO_ZERO_COPY_PAUSE_CALLS = 1000;

/** The most a UDP send operation (one datagram, or one GSO burst) can carry. */
export const MAX_SEND_BYTES = addon.limits.maxSendBytes;

const BACKENDS: readonly string[] = ['auto', 'io_uring', 'sendmmsg'];
const SEND_KEYS = ['prefix', 'suffix', 'zeroCopy', 'segmentSize', 'signal'] as const;
export const SOCKET_OPTION_KEYS = ['ttl', 'tos', 'broadcast', 'multicastTtl', 'multicastInterface', 'multicastLoopback'] as const;
export const SENDER_KEYS = ['bind', 'socket', 'backend', 'zeroCopy', 'queueDepth', 'slots', 'registerBuffers', 'sendBufferSize', 'threads',
  'inlineBelow', ...SOCKET_OPTION_KEYS] as const;
const BIND_KEYS = ['address', 'port'] as const;

/** A call's options, checked and read once, as the Sender uses them. */
export interface SendPlan {
  prefix: NativeExtras;
  suffix: NativeExtras;
  zeroCopy: boolean;
  /** zeroCopy was 'auto''s choice (the Sender may overrule it, see AUTO_ZERO_COPY_PAUSE_CALLS). */
  autoZeroCopy: boolean;
  segmentSize: number;
  signal: AbortSignal | undefined;
  /** Bytes of payload, prefix and suffix as checked (see checkViewsIntact). */
  viewBytes: number;
}

/** A Sender's options, checked and read once, every default filled in. */
export interface SenderConfig {
  bind: { address: string; port: number };
  socket: Socket | undefined;
  backend: BackendName | 'auto';
  zeroCopy: ZeroCopyMode;
  queueDepth: number;
  slots: number;
  registerBuffers: boolean;
  sendBufferSize: number;
  threads: number;
  inlineBelow: number;
  socketOptions: NativeSocketOptions;
}

function notAnOption(name: string, key: string, keys: readonly string[]): TypeError | RangeError {
  return argError('ERR_INVALID_ARG_VALUE', `${name}.${key} is not an option (known: ${keys.join(', ')})`);
}

/** What readObject() reads for an absent options object: shared, so a call without options allocates nothing here. */
const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null) as Record<string, unknown>);

/** A plain copy of an options object: each known key read once, unknown own keys refused, keys only Object.prototype has ignored. */
export function readObject(value: unknown, name: string, keys: readonly string[]): Readonly<Record<string, unknown>> {
  if (value === undefined) return NO_OPTIONS;
  if (!isRecord(value)) {
    throw argError('ERR_INVALID_ARG_TYPE', `${name} must be an object, received ${received(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw notAnOption(name, key, keys);
  }
  const inherited = unknownInheritedKey(value, keys);
  if (inherited !== undefined) throw notAnOption(name, inherited, keys);
  const copy: Record<string, unknown> = {};
  for (const key of keys) copy[key] = readGiven(value, key);
  return copy;
}

export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a number, received ${received(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw argError('ERR_OUT_OF_RANGE', `${name} must be an integer from ${min} to ${max}, received ${received(value)}`);
  }
  return value;
}

function checkZeroCopy(value: unknown, name: string): ZeroCopyMode {
  if (value === true || value === false || value === 'auto') return value;
  throw argError('ERR_INVALID_ARG_VALUE', `${name} must be true, false or 'auto', received ${received(value)}`);
}

// The engine's own getters: a subclass overriding byteLength or buffer
// must not run user code (or lie) while we check what the addon will read.
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (name: string): ((this: unknown) => unknown) => Object.getOwnPropertyDescriptor(typedArrayProto, name)!.get!;
const viewBuffer = intrinsic('buffer') as (this: ArrayBufferView) => ArrayBufferLike;
const viewOffset = intrinsic('byteOffset') as (this: ArrayBufferView) => number;
const viewLength = intrinsic('byteLength') as (this: ArrayBufferView) => number;
// Brand checks without a call into C++ (util.types): the tag getter answers
// undefined for anything but a real typed array, whatever its prototype.
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)!.get! as (this: unknown) => string | undefined;
const dataViewBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer')!.get! as (this: DataView) => ArrayBufferLike;
const dataViewOffset = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset')!.get! as (this: DataView) => number;
const dataViewLength = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength')!.get! as (this: DataView) => number;

// An AbortSignal's state asked of the engine's getters: an object made
// from its prototype is none, and an own 'aborted' or 'reason' cannot lie.
const signalAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get! as (this: AbortSignal) => boolean;
const signalReason = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'reason')!.get! as (this: AbortSignal) => unknown;

function isAbortSignal(value: unknown): value is AbortSignal {
  try {
    signalAborted.call(value as AbortSignal);
    return true;
  } catch {
    return false;
  }
}

/** The reason an aborted signal gives, or undefined while it is not aborted. */
export function abortedWith(signal: AbortSignal): { reason: unknown } | undefined {
  return signalAborted.call(signal) ? { reason: signalReason.call(signal) } : undefined;
}

/** A detached ArrayBuffer (transferred away) has no bytes and refuses new views. */
function isDetached(buffer: ArrayBufferLike): boolean {
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** A fresh Uint8Array over the bytes of any view or buffer (no copy). */
function viewOf(source: ArrayBufferView | ArrayBufferLike, name: string): Uint8Array {
  const isView = ArrayBuffer.isView(source);
  const isDataView = isView && typedArrayTag.call(source) === undefined;
  const buffer = isDataView ? dataViewBuffer.call(source as DataView) : isView ? viewBuffer.call(source as ArrayBufferView) : source as ArrayBufferLike;
  try {
    // Fixed-length, never length-tracking: a view checked here can then only
    // read as empty (its buffer detached, or shrunk below it), never grow.
    if (!isView) return new Uint8Array(buffer, 0, viewLength.call(new Uint8Array(buffer)));
    const view = source as ArrayBufferView;
    return isDataView
      ? new Uint8Array(buffer, dataViewOffset.call(view as DataView), dataViewLength.call(view as DataView))
      : new Uint8Array(buffer, viewOffset.call(view), viewLength.call(view));
  } catch (error) {
    // A detached buffer refuses new views, and a DataView's getters throw.
    if (isDetached(buffer)) throw argError('ERR_INVALID_ARG_VALUE', `${name} is backed by a detached ArrayBuffer`);
    throw error;
  }
}

/** Bytes a call's extras hold now. */
function extrasBytes(extras: NativeExtras): number {
  if (extras === undefined) return 0;
  if (!Array.isArray(extras)) return viewLength.call(extras.data);
  let total = 0;
  for (const part of extras) total += viewLength.call(part);
  return total;
}

/**
 * Checks, just before the addon reads them, that the views of a call still
 * hold what they held when checked: user code run since (an iterator, a
 * getter) may have transferred a buffer away (its views then read as empty)
 * or shrunk a resizable one.
 */
export function checkViewsIntact(payload: Uint8Array, plan: SendPlan): void {
  if (viewLength.call(payload) + extrasBytes(plan.prefix) + extrasBytes(plan.suffix) !== plan.viewBytes) {
    throw argError('ERR_INVALID_ARG_VALUE', `${brokenView(payload, plan)} was detached or resized while the call's arguments were read`);
  }
}

/**
 * Which view checkViewsIntact found changed, for its error. Every view of a
 * call is fixed-length (viewOf), so a changed one reads as empty: the first
 * over a detached buffer, else the first over a resizable one (shrunk
 * below it, or legitimately empty: that cannot be told apart).
 */
function brokenView(payload: Uint8Array, plan: SendPlan): string {
  const views: [string, Uint8Array][] = [['payload', payload]];
  for (const [name, extras] of [['options.prefix', plan.prefix], ['options.suffix', plan.suffix]] as const) {
    if (Array.isArray(extras)) extras.forEach((view, i) => views.push([`${name}[${i}]`, view]));
    else if (extras !== undefined) views.push([`${name}.data`, extras.data]);
  }
  const empty = views.filter(([, view]) => viewLength.call(view) === 0);
  const broken = empty.find(([, view]) => isDetached(viewBuffer.call(view))) ?? empty.find(([, view]) => isResizable(viewBuffer.call(view)));
  return broken?.[0] ?? 'a buffer of this call';
}

const bufferResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get as ((this: ArrayBufferLike) => boolean) | undefined;

/** Asked of the engine's getter (a SharedArrayBuffer only grows: false). */
function isResizable(buffer: ArrayBufferLike): boolean {
  try {
    return bufferResizable?.call(buffer) === true;
  } catch {
    return false;
  }
}

/** A Uint8Array view of bytes, refused when its buffer was transferred away. */
function checkBytes(value: unknown, name: string): Uint8Array {
  if (typedArrayTag.call(value) !== 'Uint8Array') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a Uint8Array`);
  return viewOf(value as Uint8Array, name);
}

/** The payload as a fresh Uint8Array view (no copy, except a string's encoding). */
export function toBytes(payload: unknown, name = 'payload'): Uint8Array {
  let bytes: Uint8Array;
  if (typeof payload === 'string') bytes = Buffer.from(payload, 'utf8');
  // Brand checks, not instanceof: Object.create(ArrayBuffer.prototype) is no buffer.
  else if (ArrayBuffer.isView(payload) || types.isAnyArrayBuffer(payload)) bytes = viewOf(payload, name);
  else {
    throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a string, Buffer, TypedArray, DataView or ArrayBuffer, received ${received(payload)}`);
  }
  if (bytes.byteLength > MAX_SEND_BYTES) {
    throw argError('ERR_OUT_OF_RANGE', `${name} is ${bytes.byteLength} bytes; a UDP send carries at most ${MAX_SEND_BYTES}`);
  }
  return bytes;
}

interface ParsedExtras { extras: NativeExtras; longest: number; bytes: number }
const NO_EXTRAS: ParsedExtras = Object.freeze({ extras: undefined, longest: 0, bytes: 0 });

/** A fresh array or { data, stride } of checked values, the longest entry, and their bytes when checked. */
function parseExtras(value: unknown, name: string, count: number): ParsedExtras {
  if (value === undefined) return NO_EXTRAS;
  if (isArray(value)) {
    const length = value.length;
    if (length !== count) throw argError('ERR_OUT_OF_RANGE', `${name} has ${length} entries for ${count} members`);
    const parts: Uint8Array[] = new Array(length);
    let longest = 0;
    let bytes = 0;
    for (let i = 0; i < length; i++) {
      const part = checkBytes(value[i], `${name}[${i}]`);
      const partBytes = part.byteLength;
      if (partBytes > MAX_SEND_BYTES) throw argError('ERR_OUT_OF_RANGE', `${name}[${i}] is longer than ${MAX_SEND_BYTES} bytes`);
      if (partBytes > longest) longest = partBytes;
      bytes += partBytes;
      parts[i] = part;
    }
    return { extras: parts, longest, bytes };
  }
  if (isRecord(value)) {
    // Both read before either is checked: a stride getter run after data's
    // check could detach it.
    const rawData = readGiven(value, 'data');
    const rawStride = readGiven(value, 'stride');
    const data = checkBytes(rawData, `${name}.data`);
    const stride = checkInteger(rawStride, `${name}.stride`, 0, MAX_SEND_BYTES);
    if (data.byteLength !== stride * count) {
      throw argError('ERR_OUT_OF_RANGE', `${name}.data is ${data.byteLength} bytes; ${count} members of stride ${stride} need ${stride * count}`);
    }
    return { extras: { data, stride }, longest: stride, bytes: data.byteLength };
  }
  throw argError('ERR_INVALID_ARG_TYPE', `${name} must be an array of Uint8Array or { data, stride }`);
}

/** A call's options read once; payloadBytes: the payload's length when it was checked. */
export function parseSendOptions(options: unknown, count: number, payloadBytes: number, senderZeroCopy: ZeroCopyMode): SendPlan {
  const o = readObject(options, 'options', SEND_KEYS);
  const prefix = parseExtras(o.prefix, 'options.prefix', count);
  const suffix = parseExtras(o.suffix, 'options.suffix', count);
  const mode = o.zeroCopy === undefined ? senderZeroCopy : checkZeroCopy(o.zeroCopy, 'options.zeroCopy');
  const segmentSize = o.segmentSize === undefined ? 0 : checkInteger(o.segmentSize, 'options.segmentSize', 1, MAX_SEND_BYTES);
  const signal = o.signal;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw argError('ERR_INVALID_ARG_TYPE', 'options.signal must be an AbortSignal');
  }
  const opBytes = prefix.longest + payloadBytes + suffix.longest;
  const autoZeroCopy = mode === 'auto' && opBytes >= AUTO_ZERO_COPY_MIN_BYTES;
  return {
    prefix: prefix.extras,
    suffix: suffix.extras,
    zeroCopy: mode === 'auto' ? autoZeroCopy : mode,
    autoZeroCopy,
    segmentSize,
    signal,
    viewBytes: payloadBytes + prefix.bytes + suffix.bytes,
  };
}

function parseBind(value: unknown): SenderConfig['bind'] {
  const o = readObject(value, 'options.bind', BIND_KEYS);
  return {
    address: (o.address ?? SENDER_DEFAULTS.bind.address) as string,
    port: (o.port ?? SENDER_DEFAULTS.bind.port) as number,
  };
}

export function parseSenderOptions(options: unknown): SenderConfig {
  return senderConfig(readObject(options, 'options', SENDER_KEYS));
}

/** The Sender options of an options object read once (a Relay's include them). */
export function senderConfig(o: Record<string, unknown>): SenderConfig {
  const d = SENDER_DEFAULTS;
  const { maxQueueDepth, maxSlots, maxThreads } = addon.limits;
  const threads = o.threads === undefined ? envDefault('SENDGROUP_THREADS', d.threads, maxThreads) : checkInteger(o.threads, 'options.threads', 0, maxThreads);
  if (o.registerBuffers !== undefined && typeof o.registerBuffers !== 'boolean') {
    throw argError('ERR_INVALID_ARG_TYPE', 'options.registerBuffers must be a boolean');
  }
  if (o.backend !== undefined && !BACKENDS.includes(o.backend as string)) {
    throw argError('ERR_INVALID_ARG_VALUE', `options.backend must be ${BACKENDS.map((b) => `'${b}'`).join(', ')}, received ${received(o.backend)}`);
  }
  if (o.socket !== undefined) {
    if (!(o.socket instanceof Socket)) throw argError('ERR_INVALID_ARG_TYPE', 'options.socket must be a dgram.Socket');
    if (o.bind !== undefined) throw argError('ERR_INVALID_ARG_VALUE', 'options.bind and options.socket exclude each other');
  }
  return {
    bind: parseBind(o.bind),
    socket: o.socket as Socket | undefined,
    backend: (o.backend ?? d.backend) as SenderConfig['backend'],
    zeroCopy: o.zeroCopy === undefined ? d.zeroCopy : checkZeroCopy(o.zeroCopy, 'options.zeroCopy'),
    queueDepth: o.queueDepth === undefined ? d.queueDepth : checkInteger(o.queueDepth, 'options.queueDepth', 1, maxQueueDepth),
    slots: o.slots === undefined ? d.slots : checkInteger(o.slots, 'options.slots', 1, maxSlots),
    registerBuffers: (o.registerBuffers ?? d.registerBuffers) as boolean,
    sendBufferSize: o.sendBufferSize === undefined ? d.sendBufferSize : checkInteger(o.sendBufferSize, 'options.sendBufferSize', 1, 0x3fffffff),
    threads,
    inlineBelow: inlineBelowOf(o.inlineBelow, threads),
    socketOptions: parseSocketOptions(o),
  };
}
