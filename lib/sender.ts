// Sender: one UDP socket and one ring, many concurrent fan-out sends.
import { EventEmitter } from 'node:events';
import { Endpoint, Target } from './address';
import { abortError, argError, closedError, systemError } from './errors';
import { SenderFeatures, toSenderFeatures } from './features';
import { Group, GroupSnapshot, isGroup, takeSnapshot } from './group';
import { Mailbox, MailboxHandler, UnreachableEvent } from './mailbox';
import { addon, forAddon, NativeSend, NativeSender, NativeTable, NativeZeroCopy } from './native';
import {
  AUTO_ZERO_COPY_PAUSE_CALLS, BackendName, Payload, SendOptions, SenderOptions, ZeroCopyMode, abortedWith, checkViewsIntact, parseSendOptions, parseSenderOptions, toBytes,
} from './options';
import { Completion, SendReport, toCompletions, toReport } from './report';
import { packBind, socketFd } from './socket';
import { Segments, SenderCounters, SenderStats, gsoSegments } from './stats';
import { SendCall, finishObserved, publishFinish, publishStart } from './diagnostics';
import { CompletionStream } from './stream';

/** A Group, or recipients as 'host:port' strings or { address, port } objects. */
export type Targets = Group | Iterable<Target>;

export type { UnreachableEvent };

interface Pending {
  snapshot?: GroupSnapshot;
  autoZeroCopy?: boolean;
  resolve?: (report: SendReport) => void;
  /** A report that arrived before its promise existed (inside the call). */
  report?: SendReport;
  stream?: CompletionStream<Completion>;
  detach?: () => void;
  settled?: boolean;
  /** GSO: datagrams member i's send carries. */
  segments?: Segments;
  /** What 'sendgroup:send:start' published, for 'sendgroup:send:finish'. */
  call?: SendCall;
}

// AbortSignal's own methods: a subclass's overrides must not run while the
// mailbox is being read (they could re-enter the sender and overwrite it).
const { addEventListener, removeEventListener } = EventTarget.prototype;


/** The events a Sender emits, for typed listeners. */
export interface SenderEvents {
  unreachable: [event: UnreachableEvent];
  /** EventEmitter's own, as for every emitter. */
  newListener: [eventName: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [eventName: string | symbol, listener: (...args: unknown[]) => void];
}

/**
 * Sends one payload to many UDP recipients. Emits 'unreachable'
 * (UnreachableEvent) for each ICMP destination-unreachable error the kernel
 * reports about a datagram it sent, whichever call sent it; nothing else is
 * emitted, and no listener is needed.
 */
export class Sender extends EventEmitter<SenderEvents> {
  readonly #native: NativeSender;
  readonly #send: NativeSend;
  readonly #zeroCopy: ZeroCopyMode;
  readonly #pending = new Map<number, Pending>();
  // Signals of calls in flight: the calls each can stop, and its one listener.
  readonly #watched = new Map<AbortSignal, { tokens: Set<number>; onAbort: () => void }>();
  // The call being started: its result may come back before #pending has it.
  // The call inside send(): its results may come before it is registered.
  #startingToken = 0;
  #startingPending: Pending | undefined;
  #nextToken = 1;
  readonly #mailbox: Mailbox;
  // 'auto' calls left that copy because the kernel copied an 'auto' zero-copy send.
  #autoPause = 0;
  #closing = false;
  #finalFeatures: SenderFeatures | undefined;
  #finalStaleRetries = 0;
  readonly #counters = new SenderCounters();
  readonly #tables = new WeakMap<GroupSnapshot, NativeTable>();
  readonly #closed: Promise<void>;
  #onClosed!: () => void;

  constructor(options?: SenderOptions) {
    super();
    const config = parseSenderOptions(options);
    this.#zeroCopy = config.zeroCopy;
    this.#closed = new Promise((resolve) => { this.#onClosed = resolve; });
    this.#mailbox = new Mailbox(this.#handler(), this);
    // Listeners for 'unreachable' keep the Sender from being collected: an
    // event must reach them, dropped reference or not. They do not keep the
    // process running (an idle Sender holds the event loop open no more than
    // an unref'd socket would).
    this.on('newListener', (event) => { if (event === 'unreachable') this.#native?.hold(true); });
    this.on('removeListener', (event) => { if (event === 'unreachable') this.#native.hold(this.listenerCount('unreachable') > 0); });
    try {
      this.#native = new addon.NativeSender(
        forAddon({
          ...(config.socket ? { fd: socketFd(config.socket) } : { bind: packBind(config.bind) }),
          backend: config.backend,
          queueDepth: config.queueDepth,
          slots: config.slots,
          registerBuffers: config.registerBuffers,
          sendBufferSize: config.sendBufferSize,
          threads: config.threads,
          inlineBelow: config.inlineBelow,
          socketOptions: config.socketOptions,
          // Diagnostics: set the ring up as on a kernel without DEFER_TASKRUN (before 6.1).
          deferTaskrun: process.env.SENDGROUP_NO_DEFER_TASKRUN !== '1',
        }),
        () => this.#deliver(this.#native.take()),
        this.#mailbox.numbers,
        this.#mailbox.attachments,
      );
    } catch (error) {
      throw systemError(error);
    }
    this.#send = this.#native.sendFunction();
  }

  /** The backend that sends: 'io_uring', or 'sendmmsg' where io_uring is blocked or was asked for. */
  get backend(): BackendName {
    return this.features.backend;
  }

  /** Which backend runs and what it could set up (zero-copy ops, fixed buffers, ...); after close(), as they were then. */
  get features(): SenderFeatures {
    return this.#finalFeatures ?? toSenderFeatures(this.#native.features());
  }

  /** Figures to export (Prometheus, logs): cheap to read every second; after close(), as they ended. */
  stats(): SenderStats {
    const staleRetries = this.#closing ? this.#finalStaleRetries : this.#native.features().staleRetries;
    return this.#counters.snapshot(this.backend, staleRetries);
  }

  /** `await using sender = new Sender()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
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
      this.#finalStaleRetries = this.#native.features().staleRetries;
      this.#closing = true;
      this.#finalFeatures = this.features;
      this.#deliver(this.#native.close());
    }
    return this.#closed;
  }

  /** The next call's token: one no call in flight still has (they wrap after 2^31 - 1 calls). */
  #takeToken(): number {
    let token;
    do {
      token = this.#nextToken;
      this.#nextToken = (this.#nextToken % 0x7fffffff) + 1;
    } while (this.#pending.has(token));
    return token;
  }

  /** Starts a call; true when it already finished (pending.report holds the report). */
  #start(group: Targets, payload: Payload, options: SendOptions | undefined, pending: Pending): boolean {
    if (this.#closing) throw closedError();
    if (group === undefined || group === null || (typeof group !== 'object')) {
      throw argError('ERR_INVALID_ARG_TYPE', 'group must be a Group or an iterable of targets');
    }
    const bytes = toBytes(payload);
    const payloadBytes = bytes.byteLength;
    const fromGroup = isGroup(group);
    const snapshot = (fromGroup ? group : new Group(group as Iterable<Target>))[takeSnapshot]();
    const plan = parseSendOptions(options, snapshot.count, payloadBytes, this.#zeroCopy);
    pending.call = publishStart(this, snapshot.count, payloadBytes, plan.zeroCopy, plan.segmentSize, pending.stream !== undefined);
    // Iterators, getters and subscribers above are user code: they may have closed us.
    if (this.#closing) throw closedError();
    const aborted = plan.signal && abortedWith(plan.signal);
    if (aborted) throw abortError(aborted.reason);
    checkViewsIntact(bytes, plan);
    if (plan.autoZeroCopy && this.#autoPause > 0) {
      this.#autoPause--;
      plan.zeroCopy = false;
    }
    pending.autoZeroCopy = plan.zeroCopy && plan.autoZeroCopy;
    pending.snapshot = snapshot;
    if (plan.segmentSize) pending.segments = gsoSegments(plan, payloadBytes);
    this.#counters.started(snapshot.count);
    const token = this.#takeToken();
    this.#startingToken = token;
    this.#startingPending = pending;
    try {
      // Results this call already has (most calls finish inside send()) are
      // matched through #startingToken, before the call is registered at all.
      this.#mailbox.writeCall(token, snapshot.count, plan.zeroCopy, plan.segmentSize, pending.stream !== undefined);
      const table = fromGroup ? this.#tableOf(snapshot) : snapshot.table;
      // Without extras, two arguments: the addon then reads no more.
      this.#deliver(plan.prefix === undefined && plan.suffix === undefined
        ? this.#send(table, bytes)
        : this.#send(table, bytes, plan.prefix, plan.suffix));
    } finally {
      this.#startingToken = 0;
      this.#startingPending = undefined;
    }
    if (pending.settled) return pending.report !== undefined;
    this.#pending.set(token, pending);
    if (plan.signal) this.#watch(plan.signal, token, pending);
    return false;
  }

  /** A Group's snapshot, parsed once for this sender (a Group hands out the same snapshot until it changes). */
  #tableOf(snapshot: GroupSnapshot): NativeTable {
    let table = this.#tables.get(snapshot);
    if (!table) {
      table = this.#native.table(snapshot.table, snapshot.count);
      this.#tables.set(snapshot, table);
    }
    return table;
  }

  /** One 'abort' listener per signal, however many of our calls it can stop (one signal on many calls is common; a listener each drew Node's MaxListenersExceededWarning past 10). */
  #watch(signal: AbortSignal, token: number, pending: Pending): void {
    let watch = this.#watched.get(signal);
    if (!watch) {
      const tokens = new Set<number>();
      // Call order, as with a listener each. A call whose results come in
      // while this runs detaches itself: deleting from a Set being iterated
      // is safe, and the loop then skips it.
      const onAbort = (): void => {
        this.#watched.delete(signal);
        for (const call of tokens) this.#deliver(this.#native.abort(call));
      };
      watch = { tokens, onAbort };
      this.#watched.set(signal, watch);
      addEventListener.call(signal, 'abort', onAbort, { once: true });
    }
    const { tokens, onAbort } = watch;
    tokens.add(token);
    // After an abort both steps are no-ops: no call can watch an aborted signal again.
    pending.detach = () => {
      tokens.delete(token);
      if (tokens.size > 0) return;
      this.#watched.delete(signal);
      removeEventListener.call(signal, 'abort', onAbort);
    };
  }

  /** Handles `count` mailbox records, and any more that wait. */
  #deliver(count: number): void {
    if (count) this.#mailbox.read(count, () => this.#native.take());
  }

  /** What results do: promises settle later and events go out on the next tick, so no user code runs here. */
  #handler(): MailboxHandler {
    return {
      done: (token, sent, failed, bytes, zeroCopy, errors) => this.#done(token, sent, failed, bytes, zeroCopy, errors),
      progress: (token, triples) => this.#progress(token, triples),
      unreachable: () => { this.#counters.unreachable++; },
      closed: () => this.#onClosed(),
    };
  }

  #take(token: number): Pending {
    if (this.#startingToken === token) return this.#startingPending!;
    const pending = this.#pending.get(token)!;
    this.#pending.delete(token);
    pending.detach?.();
    return pending;
  }

  #done(token: number, sent: number, failed: number, bytes: number, zeroCopy: NativeZeroCopy, errors: Int32Array | undefined): void {
    const pending = this.#take(token);
    pending.settled = true;
    const { members, count } = pending.snapshot!;
    this.#counters.finished(count, sent, bytes, zeroCopy, errors, pending.segments);
    this.#noteZeroCopyOutcome(pending, zeroCopy);
    if (pending.stream) {
      pending.stream.end();
      if (finishObserved()) publishFinish(this, pending.call, toReport(members, count, sent, failed, bytes, zeroCopy, errors));
      return;
    }
    const report = toReport(members, count, sent, failed, bytes, zeroCopy, errors);
    publishFinish(this, pending.call, report);
    // Inside send() the promise does not exist yet: #start hands the report over.
    if (pending.resolve) pending.resolve(report);
    else pending.report = report;
  }

  /** An 'auto' zero-copy call (sendGroup or streamGroup) the kernel copied anyway pauses zero-copy for 'auto'. */
  #noteZeroCopyOutcome(pending: Pending, zeroCopy: NativeZeroCopy): void {
    if (pending.autoZeroCopy && zeroCopy === NativeZeroCopy.Copied) this.#autoPause = AUTO_ZERO_COPY_PAUSE_CALLS;
  }

  #progress(token: number, triples: Int32Array): void {
    const pending = this.#startingToken === token ? this.#startingPending! : this.#pending.get(token)!;
    pending.stream!.push(toCompletions(pending.snapshot!.members, triples));
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
