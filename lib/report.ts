// What a send reports, built from the addon's compact results. Objects per
// member are made only for failures (and for streamGroup's completions).
import { describeErrno } from './errors';
import type { Member } from './group';
import type { NativeZeroCopy } from './native';

/** What really happened: 'copied' when zero-copy was asked for but the kernel copied (always so on loopback). */
export type ZeroCopyOutcome = 'off' | 'zero-copied' | 'copied';

/**
 * The codes sendgroup reports, each with what causes it. Whatever else the
 * kernel answers reaches you as its Node code too, so any other string is
 * possible (`string & {}` keeps these names offered by the editor).
 */
export type ErrorCode =
  /** Aborted (`signal`) or closed before it was sent. */
  | 'ECANCELED'
  /** The qdisc dropped the datagram (seen through IP_RECVERR). */
  | 'ENOBUFS'
  /** A broadcast address without SO_BROADCAST; 'unreachable': ICMPv6 administratively prohibited. */
  | 'EACCES'
  /** A firewall (netfilter) rule dropped the datagram. */
  | 'EPERM'
  /** Port 0; more GSO segments than the kernel takes in one send. */
  | 'EINVAL'
  /** Larger than a datagram may be on the way (65,507 bytes for IPv4). */
  | 'EMSGSIZE'
  /** An IPv6 member of a sender bound to an IPv4 address. */
  | 'EAFNOSUPPORT'
  /** No route to the member's network or host; 'unreachable': ICMP net or host unreachable. */
  | 'ENETUNREACH'
  | 'EHOSTUNREACH'
  /** Only in 'unreachable' events (ICMP port unreachable), never a member's failure. */
  | 'ECONNREFUSED'
  | (string & {});

export interface MemberError {
  /** Node-style code, e.g. 'EACCES', 'EMSGSIZE', 'ECANCELED'. */
  readonly code: ErrorCode;
  /** Negated C errno, as Node's system errors have it. */
  readonly errno: number;
  readonly message: string;
}

export interface SendFailure extends MemberError {
  readonly id: number;
  readonly address: string;
  readonly port: number;
}

export interface SendReport {
  /** Members in the group when the call was made. */
  readonly recipients: number;
  /** Members whose datagram(s) the kernel accepted. */
  readonly sent: number;
  /** Members reported in `errors`; sent + failed === recipients. */
  readonly failed: number;
  /** Bytes the kernel accepted, prefixes and suffixes included. */
  readonly bytes: number;
  readonly zeroCopy: ZeroCopyOutcome;
  /** One entry per failed member, in send order. */
  readonly errors: readonly SendFailure[];
}

interface CompletionOf {
  readonly id: number;
  readonly address: string;
  readonly port: number;
}

/** A member whose datagram(s) the kernel accepted. */
export interface SentCompletion extends CompletionOf {
  readonly ok: true;
  /** Bytes the kernel accepted for this member. */
  readonly bytes: number;
  readonly error?: undefined;
}

/** A member whose send failed. */
export interface FailedCompletion extends CompletionOf {
  readonly ok: false;
  readonly bytes: 0;
  readonly error: MemberError;
}

/** One member's result from streamGroup(): check `ok`, then `error` is there (or not). */
export type Completion = SentCompletion | FailedCompletion;

const OUTCOMES: readonly ZeroCopyOutcome[] = ['off', 'zero-copied', 'copied'];

// One frozen MemberError per errno: a call where every member fails (a
// dropping qdisc) must not build thousands of identical objects.
const memberErrors = new Map<number, MemberError>();

/** errno: positive, as the addon reports it. */
export function memberError(errno: number): MemberError {
  let error = memberErrors.get(errno);
  if (!error) {
    error = Object.freeze(describeErrno(errno));
    memberErrors.set(errno, error);
  }
  return error;
}

/** errorPairs: (member index, errno) pairs, in member order (the addon sorts them). */
export function toReport(members: readonly Member[], count: number, sent: number, failed: number, bytes: number,
  zeroCopy: NativeZeroCopy, errorPairs: Int32Array | undefined): SendReport {
  const errors: SendFailure[] = [];
  for (let i = 0; errorPairs && i < errorPairs.length; i += 2) {
    const member = members[errorPairs[i]!]!;
    const { code, errno, message } = memberError(errorPairs[i + 1]!);
    errors.push({ id: member.id, address: member.address, port: member.port, code, errno, message });
  }
  return { recipients: count, sent, failed, bytes, zeroCopy: OUTCOMES[zeroCopy]!, errors };
}

/** Completions from (member index, bytes, errno) triples; errno 0: sent. */
export function toCompletions(members: readonly Member[], triples: Int32Array): Completion[] {
  const completions: Completion[] = [];
  for (let i = 0; i < triples.length; i += 3) {
    const { id, address, port } = members[triples[i]!]!;
    const errno = triples[i + 2]!;
    completions.push(errno === 0
      ? { id, address, port, ok: true, bytes: triples[i + 1]! }
      : { id, address, port, ok: false, bytes: 0, error: memberError(errno) });
  }
  return completions;
}
