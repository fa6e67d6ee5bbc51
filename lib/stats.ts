// Sender.stats(): figures a server exports, kept as plain counters updated
// once per call (no allocation per call to keep them).
import { memberError } from './report';
import type { NativeExtras } from './native';
import type { BackendName, SendPlan } from './options';

export interface SenderStats {
  backend: BackendName;
  /** sendGroup and streamGroup calls started. */
  calls: number;
  /** Member sends the kernel accepted. */
  sends: number;
  /** Datagrams those carried: one per send, or a GSO send's segments. */
  datagrams: number;
  /** Bytes the kernel accepted, prefixes and suffixes included. */
  bytes: number;
  /** Member failures by code ('ENOBUFS', 'ECANCELED', ...). */
  failures: Record<string, number>;
  /** Calls that asked for zero-copy, by what the kernel did. */
  zeroCopy: { zeroCopied: number; copied: number };
  /** Sends that picked up another member's stale ICMP error and went again. */
  staleRetries: number;
  /** 'unreachable' events emitted. */
  unreachable: number;
  /** Calls not settled yet, and their members. */
  inFlight: { calls: number; members: number };
}

/** What a finished call adds (members: the call's; failed members' errors as (member, errno) pairs). */
export interface CallOutcome {
  members: number;
  sent: number;
  bytes: number;
  zeroCopy: 0 | 1 | 2;
  errors: Int32Array | undefined;
  /** GSO: datagrams member i's send carried; undefined: one each. */
  segments?: (member: number) => number;
}

/** Bytes member m has before or after the payload. */
function extraLength(extras: NativeExtras, m: number): number {
  if (!extras) return 0;
  return Array.isArray(extras) ? extras[m]!.byteLength : (extras as { stride: number }).stride;
}

/** A GSO call's datagrams per member: its bytes cut in segmentSize pieces. */
export function gsoSegments({ prefix, suffix, segmentSize }: SendPlan, payloadBytes: number): (member: number) => number {
  return (m) => Math.max(1, Math.ceil((extraLength(prefix, m) + payloadBytes + extraLength(suffix, m)) / segmentSize));
}

export class SenderCounters {
  calls = 0;
  sends = 0;
  datagrams = 0;
  bytes = 0;
  zeroCopied = 0;
  copied = 0;
  unreachable = 0;
  inFlightCalls = 0;
  inFlightMembers = 0;
  readonly #failures = new Map<string, number>();

  started(members: number): void {
    this.calls++;
    this.inFlightCalls++;
    this.inFlightMembers += members;
  }

  finished(o: CallOutcome): void {
    this.inFlightCalls--;
    this.inFlightMembers -= o.members;
    this.sends += o.sent;
    this.bytes += o.bytes;
    if (o.zeroCopy === 1) this.zeroCopied++;
    else if (o.zeroCopy === 2) this.copied++;
    this.datagrams += o.segments ? this.#segments(o) : o.sent;
    for (let i = 0; o.errors && i < o.errors.length; i += 2) {
      const { code } = memberError(o.errors[i + 1]!);
      this.#failures.set(code, (this.#failures.get(code) ?? 0) + 1);
    }
  }

  /** GSO calls: each sent member's segments. */
  #segments(o: CallOutcome): number {
    const failed = new Set<number>();
    for (let i = 0; o.errors && i < o.errors.length; i += 2) failed.add(o.errors[i]!);
    let datagrams = 0;
    for (let m = 0; m < o.members; m++) if (!failed.has(m)) datagrams += o.segments!(m);
    return datagrams;
  }

  snapshot(backend: BackendName, staleRetries: number): SenderStats {
    return {
      backend,
      calls: this.calls,
      sends: this.sends,
      datagrams: this.datagrams,
      bytes: this.bytes,
      failures: Object.fromEntries(this.#failures),
      zeroCopy: { zeroCopied: this.zeroCopied, copied: this.copied },
      staleRetries,
      unreachable: this.unreachable,
      inFlight: { calls: this.inFlightCalls, members: this.inFlightMembers },
    };
  }
}
