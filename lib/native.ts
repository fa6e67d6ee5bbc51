// The addon's surface, declared once. lib/ talks to native code only through
// these types; a second backend implements NativeSender and nothing here
// changes.
import * as path from 'node:path';

/** Per-recipient bytes as the addon takes them (already validated). */
export type NativeExtras = Uint8Array[] | { data: Uint8Array; stride: number } | undefined;

export interface NativeSenderOptions {
  /** One packed member (address.ts) to bind to; [::] falls back to 0.0.0.0 without IPv6. */
  bind?: Uint8Array;
  /** A bound UDP socket's descriptor to send through instead (duplicated, never closed). */
  fd?: number;
  backend?: 'auto' | 'io_uring' | 'sendmmsg';
  queueDepth?: number;
  slots?: number;
  registerBuffers?: boolean;
  sendBufferSize?: number;
}

/** What io_uring offers; probe() reports it for the kernel, Sender.features for one ring. */
export interface RingCapabilities {
  /** DEFER_TASKRUN accepted: completions run only when the sender asks. */
  deferTaskrun: boolean;
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

/** What the running backend could set up, for `Sender.features`. */
export interface NativeFeatures extends RingCapabilities {
  backend: 'io_uring' | 'sendmmsg';
  /** 0, or the negated errno that made 'auto' fall back to sendmmsg. */
  ioUringErrno: number;
  /** Submission queue entries really set up: fewer than asked when RLIMIT_MEMLOCK is small. */
  queueDepth: number;
  /** 0, or the negated errno that refused buffer registration. */
  fixedBuffersErrno: number;
  /** 0, or the negated errno with which the kernel refused a zero-copy send; the sender copies from then on. */
  zeroCopyRefusedErrno: number;
}

/** 0 'off', 1 'zero-copied', 2 'copied' */
export type NativeZeroCopy = 0 | 1 | 2;

/** Called once per finished call; errors holds (member index, errno) pairs. */
export type OnDone = (token: number, sent: number, failed: number, bytes: number, zeroCopy: NativeZeroCopy, errors: Int32Array | undefined) => void;
/** streamGroup only: (member index, bytes or -errno) pairs since the last call. */
export type OnProgress = (token: number, progress: Int32Array) => void;

export interface NativeSender {
  /**
   * Starts a call (token > 0). Returns true when it finished inside this call
   * with no failure: its [sent, bytes, zeroCopy] are then in the result array
   * given at construction and onDone is not called for it.
   */
  send(token: number, members: Uint8Array, count: number, payload: Uint8Array, prefix: NativeExtras, suffix: NativeExtras,
    zeroCopy: boolean, segmentSize: number, stream: boolean): boolean;
  abort(token: number): void;
  /** Cancels what is in flight; onClosed runs once the kernel is done with it all. */
  close(): void;
  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  features(): NativeFeatures;
}

/** Errnos are negated, 0 where the thing works. */
export interface NativeProbe extends RingCapabilities {
  ioUring: boolean;
  ioUringErrno: number;
  submitAll: boolean;
  fixedBuffersErrno: number;
  gso: boolean;
  gsoErrno: number;
  sendmmsg: boolean;
  sendmmsgErrno: number;
}

export interface Addon {
  NativeSender: new (options: NativeSenderOptions, onDone: OnDone, onProgress: OnProgress, onClosed: () => void,
    result: Float64Array) => NativeSender;
  probe(): NativeProbe;
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
