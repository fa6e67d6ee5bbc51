// probe(): what this kernel and process allow, asked once per process.
import { describeErrno } from './errors';
import { addon } from './native';

export interface ProbeResult {
  /** A ring could be set up (io_uring_setup not blocked by seccomp, sysctl or limits). */
  ioUring: boolean;
  /** DEFER_TASKRUN accepted: completions run only when the sender asks. */
  deferTaskrun: boolean;
  /** IORING_SETUP_SUBMIT_ALL accepted: one bad member never stops a batch. */
  submitAll: boolean;
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
  /** UDP GSO (UDP_SEGMENT), used by segmentSize. */
  gso: boolean;
  /** The sendmmsg backend works (it is what 'auto' uses where io_uring is refused). */
  sendmmsg: boolean;
  /** For each thing missing, why: the code of the refusal, e.g. { ioUring: 'EPERM' }. */
  reasons: Partial<Record<'ioUring' | 'fixedBuffers' | 'gso' | 'sendmmsg', string>>;
}

let cached: ProbeResult | undefined;

export function probe(): ProbeResult {
  if (cached) return { ...cached, reasons: { ...cached.reasons } };
  const raw = addon.probe();
  const reasons: ProbeResult['reasons'] = {};
  if (raw.ioUringErrno) reasons.ioUring = describeErrno(raw.ioUringErrno).code;
  if (!raw.fixedBuffers) reasons.fixedBuffers = describeErrno(raw.fixedBuffersErrno || raw.ioUringErrno).code;
  if (raw.gsoErrno) reasons.gso = describeErrno(raw.gsoErrno).code;
  if (raw.sendmmsgErrno) reasons.sendmmsg = describeErrno(raw.sendmmsgErrno).code;
  const { ioUring, deferTaskrun, submitAll, sendWithAddr, sendZc, sendmsgZc, reportUsage, sendmsgZcFixed, fixedBuffers, gso, sendmmsg } = raw;
  cached = { ioUring, deferTaskrun, submitAll, sendWithAddr, sendZc, sendmsgZc, reportUsage, sendmsgZcFixed, fixedBuffers, gso, sendmmsg, reasons };
  return probe();
}
