// What a Sender could set up, as users see it: the addon reports errnos
// positive, this turns them into Node's negative ones.
import { describeErrno } from './errors';
import type { NativeFeatures } from './native';

/** What Sender.features shows; errnos negative, as Node's system errors have them, 0 where nothing was refused. */
export type SenderFeatures = Omit<NativeFeatures, 'staleRetries'>;

export function toSenderFeatures(native: NativeFeatures): SenderFeatures {
  const negate = (errno: number): number => (errno ? describeErrno(errno).errno : 0);
  // A counter, not a feature: Sender.stats() has it.
  const { staleRetries: _counter, ...features } = native;
  return { ...features, ioUringErrno: negate(native.ioUringErrno), fixedBuffersErrno: negate(native.fixedBuffersErrno),
    zeroCopyRefusedErrno: negate(native.zeroCopyRefusedErrno) };
}
