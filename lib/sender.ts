// Sender: one UDP socket and one ring, many concurrent fan-out sends.
import { Endpoint, MEMBER_BYTES, Target, packEndpoint, parseEndpoint } from './address';
import { abortError, argError, closedError, systemError } from './errors';
import { Group, GroupSnapshot } from './group';
import { addon, NativeFeatures, NativeSender, NativeZeroCopy } from './native';
import { Socket } from 'node:dgram';
import {
  AUTO_ZERO_COPY_PAUSE_CALLS, BackendName, Payload, SendOptions, SenderOptions, ShapedSend, ZeroCopyMode, shapeSend, shapeSender, toBytes,
} from './options';
import { Completion, SendReport, toCompletions, toReport } from './report';
import { CompletionStream } from './stream';

/** A Group, or recipients as 'host:port' strings or { address, port } objects. */
export type Targets = Group | Iterable<Target>;

interface Pending {
  snapshot?: GroupSnapshot;
  autoZeroCopy?: boolean;
  resolve?: (report: SendReport) => void;
  /** A report that arrived before its promise existed (inside the call). */
  report?: SendReport;
  stream?: CompletionStream<Completion>;
  detach?: () => void;
}

function toSnapshot(targets: unknown): GroupSnapshot {
  if (targets instanceof Group) return targets.snapshot();
  return new Group(targets as Iterable<Target>).snapshot();
}

/**
 * The descriptor of a bound dgram socket. Node has no public API for it; it
 * sits on the socket's handle, reached through the socket's internal state
 * (socket._handle is the same object, but reading it prints DEP0112).
 */
function socketFd(socket: Socket): number {
  const state = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
  const handle = state ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle
    : (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw argError('ERR_INVALID_ARG_VALUE', 'options.socket must be bound (call bind() and wait for \'listening\')');
  return fd;
}

function packBind(bind: SenderOptions['bind']): Uint8Array {
  const endpoint: Endpoint = parseEndpoint({ address: bind?.address ?? '::', port: bind?.port ?? 0 }, undefined, 'options.bind');
  const packed = new Uint8Array(MEMBER_BYTES);
  packEndpoint(endpoint, packed, 0);
  return packed;
}

export class Sender {
  readonly #native: NativeSender;
  readonly #zeroCopy: ZeroCopyMode;
  readonly #pending = new Map<number, Pending>();
  #nextToken = 1;
  // Written by the addon for a call that finished inside send(): [sent, bytes, zeroCopy].
  readonly #result = new Float64Array(3);
  // 'auto' calls left that copy because the kernel copied an 'auto' zero-copy send.
  #autoPause = 0;
  #closing = false;
  readonly #closed: Promise<void>;
  #onClosed!: () => void;

  constructor(options?: SenderOptions) {
    const shaped = shapeSender(options);
    this.#zeroCopy = shaped.zeroCopy;
    this.#closed = new Promise((resolve) => { this.#onClosed = resolve; });
    try {
      this.#native = new addon.NativeSender(
        {
          ...(shaped.socket ? { fd: socketFd(shaped.socket) } : { bind: packBind(shaped.bind) }),
          backend: shaped.backend,
          queueDepth: shaped.queueDepth,
          slots: shaped.slots,
          registerBuffers: shaped.registerBuffers ?? true,
          sendBufferSize: shaped.sendBufferSize,
        },
        (token, sent, failed, bytes, zeroCopy, errors) => this.#done(token, sent, failed, bytes, zeroCopy, errors),
        (token, progress) => this.#progress(token, progress),
        () => this.#onClosed(),
        this.#result,
      );
    } catch (error) {
      throw systemError(error);
    }
  }

  /** The backend that sends: 'io_uring', or 'sendmmsg' where io_uring is blocked or was asked for. */
  get backend(): BackendName {
    return this.features.backend;
  }

  /** Which backend runs and what it could set up (zero-copy ops, fixed buffers, ...). */
  get features(): NativeFeatures {
    if (this.#closing) throw closedError();
    return this.#native.features();
  }

  /** The local address of the sender's UDP socket. */
  address(): Endpoint {
    if (this.#closing) throw closedError();
    return this.#native.address();
  }

  /**
   * Sends payload (with each member's prefix/suffix) to every member of the
   * group in one batch. Resolves with a per-member report once the kernel has
   * finished with every datagram; rejects only for bad arguments, a closed
   * sender or an already-aborted signal.
   */
  sendGroup(group: Targets, payload: Payload, options?: SendOptions): Promise<SendReport> {
    const pending: Pending = {};
    try {
      // Most calls finish inside the addon's send(): no promise to park.
      if (this.#start(group, payload, options, pending)) return Promise.resolve(pending.report!);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve) => { pending.resolve = resolve; });
  }

  /** The same send, yielding one Completion per member as each finishes. Throws for bad arguments. */
  streamGroup(group: Targets, payload: Payload, options?: SendOptions): AsyncIterableIterator<Completion> {
    const stream = new CompletionStream<Completion>();
    this.#start(group, payload, options, { stream });
    return stream;
  }

  /**
   * Cancels what is not yet sent (those members are reported failed with
   * ECANCELED, every pending promise settles) and closes the socket once the
   * kernel is done with every buffer. Calling it again is harmless.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#native.close();
    }
    return this.#closed;
  }

  /** Starts a call; true when it already finished (pending.report holds the report). */
  #start(group: Targets, payload: Payload, options: SendOptions | undefined, pending: Pending): boolean {
    if (this.#closing) throw closedError();
    if (group === undefined || group === null || (typeof group !== 'object')) {
      throw argError('ERR_INVALID_ARG_TYPE', 'group must be a Group or an iterable of targets');
    }
    const bytes = toBytes(payload);
    const snapshot = toSnapshot(group);
    const shaped: ShapedSend = shapeSend(options, snapshot.count, bytes, this.#zeroCopy);
    if (shaped.signal?.aborted) throw abortError(shaped.signal.reason);
    if (shaped.autoZeroCopy && this.#autoPause > 0) {
      this.#autoPause--;
      shaped.zeroCopy = false;
    }
    pending.autoZeroCopy = shaped.zeroCopy && shaped.autoZeroCopy;
    const token = this.#nextToken;
    this.#nextToken = (this.#nextToken % 0x7fffffff) + 1;
    pending.snapshot = snapshot;
    if (shaped.signal) {
      const signal = shaped.signal;
      const onAbort = (): void => this.#native.abort(token);
      signal.addEventListener('abort', onAbort, { once: true });
      pending.detach = () => signal.removeEventListener('abort', onAbort);
    }
    this.#pending.set(token, pending);
    let finished: boolean;
    try {
      finished = this.#native.send(token, snapshot.table, snapshot.count, bytes, shaped.prefix, shaped.suffix,
        shaped.zeroCopy, shaped.segmentSize, pending.stream !== undefined);
    } catch (error) {
      this.#pending.delete(token);
      pending.detach?.();
      throw error;
    }
    if (finished) {
      this.#pending.delete(token);
      pending.detach?.();
      const [sent, bytesSent, zeroCopy] = this.#result as unknown as [number, number, NativeZeroCopy];
      pending.report = this.#learn(pending, toReport(snapshot.members, snapshot.count, sent, 0, bytesSent, zeroCopy, undefined));
    }
    return pending.report !== undefined;
  }

  #done(token: number, sent: number, failed: number, bytes: number, zeroCopy: NativeZeroCopy, errors: Int32Array | undefined): void {
    const pending = this.#pending.get(token)!;
    this.#pending.delete(token);
    pending.detach?.();
    if (pending.stream) {
      pending.stream.end();
      return;
    }
    const { members, count } = pending.snapshot!;
    const report = this.#learn(pending, toReport(members, count, sent, failed, bytes, zeroCopy, errors));
    // Inside send() the promise does not exist yet: #start hands the report over.
    if (pending.resolve) pending.resolve(report);
    else pending.report = report;
  }

  /** An 'auto' zero-copy call the kernel copied anyway pauses zero-copy for 'auto'. */
  #learn(pending: Pending, report: SendReport): SendReport {
    if (pending.autoZeroCopy && report.zeroCopy === 'copied') this.#autoPause = AUTO_ZERO_COPY_PAUSE_CALLS;
    return report;
  }

  #progress(token: number, progress: Int32Array): void {
    const pending = this.#pending.get(token)!;
    pending.stream!.push(toCompletions(pending.snapshot!.members, progress));
  }
}

let shared: Sender | undefined;

/** Sends to targets through one Sender shared by the process, created on first use with default options. */
export function sendGroup(targets: Targets, payload: Payload, options?: SendOptions): Promise<SendReport> {
  try {
    shared ??= new Sender();
  } catch (error) {
    return Promise.reject(error);
  }
  return shared.sendGroup(targets, payload, options);
}
