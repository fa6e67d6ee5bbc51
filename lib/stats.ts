// Sender.stats(): figures a server exports, kept as plain counters updated
// once per call (no allocation per call to keep them).
import { memberError } from './report';
import { NativeExtras, NativeZeroCopy } from './native';
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

/** GSO: datagrams member i's send carried. */
export type Segments = (member: number) => number;

/** Bytes member m has before or after the payload. */
function extraLength(extras: NativeExtras, m: number): number {
  if (!extras) return 0;
  return Array.isArray(extras) ? extras[m]!.byteLength : (extras as { stride: number }).stride;
}

/** A GSO call's datagrams per member: its bytes cut in segmentSize pieces. */
export function gsoSegments({ prefix, suffix, segmentSize }: SendPlan, payloadBytes: number): Segments {
  return (m) => Math.max(1, Math.ceil((extraLength(prefix, m) + payloadBytes + extraLength(suffix, m)) / segmentSize));
}

/** A GSO call's datagrams: each sent member's segments. */
function gsoDatagrams(members: number, errors: Int32Array | undefined, segments: Segments): number {
  const failed = new Set<number>();
  for (let i = 0; errors && i < errors.length; i += 2) failed.add(errors[i]!);
  let datagrams = 0;
  for (let m = 0; m < members; m++) if (!failed.has(m)) datagrams += segments(m);
  return datagrams;
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

  /**
   * What a finished call adds (positional, so a call allocates nothing here):
   * its members, failed members' errors as (member, errno) pairs, and with
   * GSO the datagrams each member's send carried (undefined: one each).
   */
  finished(members: number, sent: number, bytes: number, zeroCopy: NativeZeroCopy, errors: Int32Array | undefined,
    segments: Segments | undefined): void {
    this.inFlightCalls--;
    this.inFlightMembers -= members;
    this.sends += sent;
    this.bytes += bytes;
    if (zeroCopy === NativeZeroCopy.ZeroCopied) this.zeroCopied++;
    else if (zeroCopy === NativeZeroCopy.Copied) this.copied++;
    this.datagrams += segments ? gsoDatagrams(members, errors, segments) : sent;
    for (let i = 0; errors && i < errors.length; i += 2) {
      const { code } = memberError(errors[i + 1]!);
      this.#failures.set(code, (this.#failures.get(code) ?? 0) + 1);
    }
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
