// What a send reports, built from the addon's compact results. Objects per
// member are made only for failures (and for streamGroup's completions).
import { describeErrno } from './errors';
import type { Member } from './group';
import type { NativeZeroCopy } from './native';

/** What really happened: 'copied' when zero-copy was asked for but the kernel copied (always so on loopback). */
export type ZeroCopyOutcome = 'off' | 'zero-copied' | 'copied';

export interface MemberError {
  /** Node-style code, e.g. 'EACCES', 'EMSGSIZE', 'ECANCELED'. */
  readonly code: string;
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

export interface Completion {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly ok: boolean;
  /** Bytes the kernel accepted for this member; 0 when it failed. */
  readonly bytes: number;
  readonly error?: MemberError;
}

const OUTCOMES: readonly ZeroCopyOutcome[] = ['off', 'zero-copied', 'copied'];

function memberError(errno: number): MemberError {
  const { code, message } = describeErrno(errno);
  return { code, errno: -Math.abs(errno), message };
}

export function toReport(members: readonly Member[], count: number, sent: number, failed: number, bytes: number,
  zeroCopy: NativeZeroCopy, errorPairs: Int32Array | undefined): SendReport {
  const failures: [index: number, errno: number][] = [];
  for (let i = 0; errorPairs && i < errorPairs.length; i += 2) failures.push([errorPairs[i]!, errorPairs[i + 1]!]);
  // Completion order depends on the kernel; send order is what users expect.
  failures.sort((a, b) => a[0] - b[0]);
  const errors = failures.map(([index, errno]): SendFailure => {
    const { id, address, port } = members[index]!;
    return { id, address, port, ...memberError(errno) };
  });
  return { recipients: count, sent, failed, bytes, zeroCopy: OUTCOMES[zeroCopy]!, errors };
}

/** Completions from (member index, bytes or -errno) pairs. */
export function toCompletions(members: readonly Member[], pairs: Int32Array): Completion[] {
  const completions: Completion[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const { id, address, port } = members[pairs[i]!]!;
    const result = pairs[i + 1]!;
    completions.push(result >= 0
      ? { id, address, port, ok: true, bytes: result }
      : { id, address, port, ok: false, bytes: 0, error: memberError(result) });
  }
  return completions;
}
