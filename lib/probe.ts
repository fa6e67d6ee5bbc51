// probe(): what this kernel and process allow, asked once per process.
import { availableParallelism } from 'os';
import { describeErrno } from './errors';
import { addon, RingCapabilities } from './native';

export interface ProbeResult extends RingCapabilities {
  /** A ring could be set up (io_uring_setup not blocked by seccomp, sysctl or limits). */
  ioUring: boolean;
  /** UDP GSO (UDP_SEGMENT), used by segmentSize. */
  gso: boolean;
  /** The sendmmsg backend works (it is what 'auto' uses where io_uring is refused). */
  sendmmsg: boolean;
  /** CPUs this process may run on (os.availableParallelism()): more threads than this only compete. */
  cpus: number;
  /** For each thing missing, why: the code of the refusal, e.g. { ioUring: 'EPERM' }. */
  reasons: Partial<Record<'ioUring' | 'fixedBuffers' | 'gso' | 'sendmmsg', string>>;
}

let cached: ProbeResult | undefined;

export function probe(): ProbeResult {
  if (cached) return { ...cached, reasons: { ...cached.reasons } };
  const { ioUringErrno, fixedBuffersErrno, gsoErrno, sendmmsgErrno, ...found } = addon.probe();
  const reasons: ProbeResult['reasons'] = {};
  if (ioUringErrno) reasons.ioUring = describeErrno(ioUringErrno).code;
  if (!found.fixedBuffers) reasons.fixedBuffers = describeErrno(fixedBuffersErrno || ioUringErrno).code;
  if (gsoErrno) reasons.gso = describeErrno(gsoErrno).code;
  if (sendmmsgErrno) reasons.sendmmsg = describeErrno(sendmmsgErrno).code;
  cached = { ...found, cpus: availableParallelism(), reasons };
  return probe();
}
