// What the soak measures and how it reports it (scripts/soak.js): RSS, V8
// heap and open descriptors sampled after full collections, printed as one
// line each, and the verdicts on a phase's start and end samples.
'use strict';
const fs = require('node:fs');

// RSS is measured after full collections, so the collector is exposed. V8
// grows its young generation from 1 MB to 2 x 16 MB under a high allocation
// rate (+25 MB of RSS within the first 200,000 calls here, heap used stays at
// 4 MB); pinning it at 1 MB makes RSS measure the library, not V8's sizing.
// --v8-defaults leaves V8 as it is.
const FLAGS = ['--expose-gc', ...(process.argv.includes('--v8-defaults') ? [] : ['--max-semi-space-size=1'])];

const RSS_LIMIT_MB = 10;
const HEAP_LIMIT_MB = 5;
const MB = 1048576;
const mb = (bytes) => (bytes / MB).toFixed(1);

/** What each open descriptor is (socket:[inode], anon_inode:[io_uring], a path, ...). */
function openFds() {
  return fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).replace(/:\[\d+\]$/, '');
    } catch {
      return 'gone';
    }
  });
}

/** The kinds of descriptor in after that are not in before, with how many more. */
function fdGrowth(before, after) {
  const count = (list) => list.reduce((map, kind) => map.set(kind, (map.get(kind) ?? 0) + 1), new Map());
  const b = count(before);
  return [...count(after)].filter(([kind, n]) => n > (b.get(kind) ?? 0)).map(([kind, n]) => `${kind} +${n - (b.get(kind) ?? 0)}`).join(', ');
}

/** RSS split as the kernel counts it: anonymous, file-backed, shared memory (kB). */
function rssParts() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status) || [])[1] || 0);
  return { anon: kb('RssAnon') * 1024, file: kb('RssFile') * 1024, shmem: kb('RssShmem') * 1024 };
}

/** A sample of the phase whose state (calls.js) this is, after two full collections; prints its line. */
function sample(label, state) {
  gc();
  gc();
  const usage = process.memoryUsage();
  const parts = rssParts();
  const s = {
    label,
    calls: state.calls,
    seconds: (Date.now() - state.started) / 1000,
    rss: usage.rss,
    heap: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    fdList: openFds(),
    inflight: state.inflight,
    ...parts,
  };
  s.fds = s.fdList.length;
  const rate = s.seconds > 0 ? Math.round(state.calls / s.seconds) : 0;
  console.log(`[${state.tag}] ${label.padEnd(8)} calls ${String(s.calls).padStart(8)}  ${s.seconds.toFixed(1).padStart(6)} s  ${String(rate).padStart(6)} calls/s  ` +
    `rss ${mb(s.rss).padStart(6)} MB (anon ${mb(s.anon)}, file ${mb(s.file)}, shmem ${mb(s.shmem)})  heap ${mb(s.heap).padStart(5)} of ${mb(s.heapTotal).padStart(5)} MB  external ${mb(s.external).padStart(5)} MB  fds ${s.fds}  in flight ${s.inflight}`);
  return s;
}

/** Verdicts on a phase's start and end samples: RSS, heap, descriptors, calls in flight. */
function flatness(start, end) {
  const verdicts = [];
  const growth = end.rss - start.rss;
  if (growth >= RSS_LIMIT_MB * MB) verdicts.push(`RSS grew ${mb(growth)} MB (limit ${RSS_LIMIT_MB} MB)`);
  if (end.heap - start.heap >= HEAP_LIMIT_MB * MB) verdicts.push(`heap grew ${mb(end.heap - start.heap)} MB (limit ${HEAP_LIMIT_MB} MB)`);
  if (end.fds > start.fds) verdicts.push(`open descriptors grew from ${start.fds} to ${end.fds} (${fdGrowth(start.fdList, end.fdList)})`);
  if (end.inflight > 0) verdicts.push(`${end.inflight} calls still in flight at the end`);
  return verdicts;
}

/** The start of a phase's summary line: calls, time, RSS, heap, descriptors, member failures. */
function summaryLine(state, start, end) {
  const growth = end.rss - start.rss;
  const codes = [...state.failures].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  return `${state.calls} calls in ${end.seconds.toFixed(1)} s; RSS ${mb(start.rss)} -> ${mb(end.rss)} MB (${growth >= 0 ? '+' : ''}${mb(growth)} MB), ` +
    `heap ${mb(start.heap)} -> ${mb(end.heap)} MB, fds ${start.fds} -> ${end.fds}, in flight at end ${end.inflight}; member failures: ${codes}`;
}

/** This process's mappings: address range, size and resident kB, name ('[anon]' when it has none). */
function mappings() {
  const regions = [];
  let current = null;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      current = { range: `${head[1]}-${head[2]}`, size: (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024, name: head[3] || '[anon]', rss: 0 };
      regions.push(current);
    } else if (current && line.startsWith('Rss:')) {
      current.rss = Number(line.split(/\s+/)[1]);
    }
  }
  return regions;
}

/** --smaps: the largest resident anonymous mappings, to see what holds memory. */
function printSmaps() {
  const regions = mappings();
  const byName = new Map();
  for (const r of regions) {
    const entry = byName.get(r.name) ?? { rss: 0, count: 0 };
    entry.rss += r.rss;
    entry.count++;
    byName.set(r.name, entry);
  }
  console.log('[soak] resident memory by mapping (kB):');
  [...byName].sort((a, b) => b[1].rss - a[1].rss).slice(0, 8).forEach(([name, e]) => console.log(`  ${String(e.rss).padStart(8)}  ${e.count} x ${name}`));
  console.log('[soak] largest anonymous regions (kB):');
  regions.filter((r) => r.name === '[anon]' || r.name === '[heap]').sort((a, b) => b.rss - a.rss).slice(0, 8)
    .forEach((r) => console.log(`  ${String(r.rss).padStart(8)} of ${String(r.size).padStart(8)}  ${r.range} ${r.name}`));
}

module.exports = { FLAGS, flatness, printSmaps, sample, summaryLine };
