// The relay's figures as lines: a status line per interval, the totals when
// it stops.
import type { RelayStats } from '../relay';

/** How the relay ended, for the summary. */
export interface Ending {
  signal: NodeJS.Signals;
  seconds: number;
  total: RelayStats;
  members: number;
  /** Members --drop-unreachable removed; undefined without it. */
  droppedUnreachable: number | undefined;
}

/** One interval's rates and drops, members now, and the members called unreachable in it. */
export function statusLine(now: RelayStats, before: RelayStats, seconds: number, unreachable: number): string {
  const out = now.sends - before.sends;
  const mbits = ((now.bytes - before.bytes) * 8) / 1e6 / (seconds || 1);
  return `status: in ${rate(now.received - before.received, seconds)}/s, out ${rate(out, seconds)}/s ${mbits.toFixed(2)} Mbit/s, ` +
    `pending ${now.pending}, members ${now.members}, dropped ${drops(now, before)}, failed sends ${failedSends(now) - failedSends(before)}, unreachable ${unreachable}`;
}

/** The four lines printed when a signal stopped the relay. */
export function summaryLines({ signal, seconds, total, members, droppedUnreachable }: Ending): string[] {
  return [
    `stopped by ${signal} after ${seconds.toFixed(1)} s, backend ${total.backend}`,
    `total: received ${total.received}, forwarded ${total.forwarded}, sends ${total.sends} (${bytesText(total.bytes)}), ` +
      `failed sends ${failedSends(total)}${byCode(total.failures)}`,
    `total dropped: ${drops(total)}`,
    `total: members ${members} at the end, unreachable events ${total.unreachable}` +
      (droppedUnreachable === undefined ? '' : `, members dropped as unreachable ${droppedUnreachable}`),
  ];
}

function rate(count: number, seconds: number): string {
  const perSecond = seconds > 0 ? count / seconds : 0;
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

function failedSends(stats: RelayStats): number {
  return Object.values(stats.failures).reduce((sum, n) => sum + n, 0);
}

/** Datagrams dropped by kind: since `before`, or in all. */
function drops(now: RelayStats, before?: RelayStats): string {
  const d = (get: (s: RelayStats) => number): number => get(now) - (before ? get(before) : 0);
  return `not-allowed ${d((s) => s.dropped.notAllowed)}, no-buffer ${d((s) => s.dropped.noBuffer)}, ` +
    `truncated ${d((s) => s.dropped.truncated)}, no-members ${d((s) => s.dropped.noMembers)}, looped ${d((s) => s.dropped.looped)}`;
}

/** " (ECONNREFUSED 3, EPERM 1)", or nothing when none failed. */
function byCode(failures: Record<string, number>): string {
  const entries = Object.entries(failures);
  return entries.length ? ` (${entries.map(([code, n]) => `${code} ${n}`).join(', ')})` : '';
}

function bytesText(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} bytes`;
}
