// Reading the addon's mailbox (native/outbox.h): the one path results take
// to JavaScript, after every call into the addon and every notification.
import type { EventEmitter } from 'node:events';
import type { Endpoint, Family } from './address';
import { describeErrno } from './errors';
import { addon, NativeZeroCopy, RecordKind } from './native';
import type { ErrorCode } from './report';

const { mailboxRecords: RECORDS, recordDoubles: DOUBLES, callAt: CALL_AT, callFields: CALL_FIELDS } = addon.limits;

const FAMILIES: Record<number, Family> = { 4: 'IPv4', 6: 'IPv6' };

/** An ICMP "destination unreachable" for a datagram this sender sent: the receiver is gone (port), or the way to it (host, net). */
export interface UnreachableEvent extends Endpoint {
  /** 'ECONNREFUSED' (port unreachable: nothing listens there any more), 'EHOSTUNREACH', 'ENETUNREACH', ... */
  readonly code: ErrorCode;
  /** Negated C errno, as Node's system errors have it. */
  readonly errno: number;
}

/** What the owner (Sender, Relay) does with each record. Nothing here may run user code synchronously. */
export interface MailboxHandler {
  done(token: number, sent: number, failed: number, bytes: number, zeroCopy: NativeZeroCopy, errors: Int32Array | undefined): void;
  progress(token: number, triples: Int32Array): void;
  /** An ICMP error was read (count it now); its 'unreachable' event goes out on the next tick. */
  unreachable(): void;
  /** On the next tick, after the 'unreachable' events read with the closing record. */
  closed(): void;
}

export class Mailbox {
  /** Written by the addon: RECORDS records of DOUBLES numbers; then a call's numbers, written by writeCall(). */
  readonly numbers = new Float64Array(CALL_AT + CALL_FIELDS);
  /**
   * Record i's attachment, where its kind has one. Every slot is an own
   * property from the start (Array.from defines them), so the addon's
   * writes never reach a setter a polluted Array.prototype has for an index.
   */
  readonly attachments: unknown[] = Array.from({ length: RECORDS }, () => undefined);

  /** `events` emits the 'unreachable' events: listeners are user code, run on the next tick. */
  constructor(private readonly handler: MailboxHandler, private readonly events: EventEmitter) {}

  /** The numbers of the send() about to be made, in native/outbox.h's CallField order (read before any record is written). */
  writeCall(token: number, count: number, zeroCopy: boolean, segmentSize: number, stream: boolean): void {
    const box = this.numbers;
    box[CALL_AT] = token;
    box[CALL_AT + 1] = count;
    box[CALL_AT + 2] = zeroCopy ? 1 : 0;
    box[CALL_AT + 3] = segmentSize;
    box[CALL_AT + 4] = stream ? 1 : 0;
  }

  /**
   * Handles `count` records, then asks take() for more while the last read
   * filled the mailbox. The handler runs no user code, so nothing can call
   * into the addon and overwrite the mailbox meanwhile.
   */
  read(count: number, take: () => number): void {
    for (;;) {
      for (let r = 0; r < count; r++) this.#dispatch(r);
      if (count < RECORDS) return;
      count = take();
    }
  }

  #dispatch(r: number): void {
    const at = r * DOUBLES;
    const box = this.numbers;
    const token = box[at + 1]!;
    switch (box[at] as RecordKind) {
      case RecordKind.Done:
        this.handler.done(token, box[at + 2]!, box[at + 3]!, box[at + 4]!, box[at + 5] as NativeZeroCopy,
          box[at + 3]! > 0 ? this.attachments[r] as Int32Array : undefined);
        break;
      case RecordKind.Progress:
        this.handler.progress(token, this.attachments[r] as Int32Array);
        break;
      case RecordKind.Unreachable:
        this.#unreachable(this.attachments[r] as string, box[at + 2]!, box[at + 3]!, box[at + 4]!);
        break;
      case RecordKind.Closed:
        // After the events read with it, which are on the next tick too:
        // close() may be awaited in a microtask, whose caller would
        // otherwise go on before them.
        process.nextTick(() => this.handler.closed());
        break;
    }
  }

  #unreachable(address: string, family: number, port: number, errno: number): void {
    this.handler.unreachable();
    const { code, errno: nodeErrno } = describeErrno(errno);
    const event: UnreachableEvent = Object.freeze({ address, port, family: FAMILIES[family]!, code, errno: nodeErrno });
    // Listeners are user code, never run inside the read; each event goes
    // out on its own tick, so one that throws stops only its own event's.
    process.nextTick(() => this.events.emit('unreachable', event));
  }
}
