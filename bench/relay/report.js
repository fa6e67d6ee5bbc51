// Turns the samples of bench/relay.js into its tables: CPU per forwarded
// member-datagram per load, member count and variant (median and range over
// the rounds), and the goal ratios, each taken within one round (so the
// noise of that round hits both sides) and then summarised the same way.
'use strict';

const RATIOS = [
  { name: 'native / C', top: 'relay-native', bottom: 'relay-c', goal: (x) => x <= 1.05, goalText: '<= 1.05' },
  { name: 'js-sendgroup / native', top: 'relay-js-sendgroup', bottom: 'relay-native', goal: (x) => x >= 1.5, goalText: '>= 1.5' },
  { name: 'dgram / native', top: 'relay-dgram', bottom: 'relay-native', goal: (x) => x >= 2, goalText: '>= 2' },
  { name: 'native-mmsg / native', top: 'relay-native-mmsg', bottom: 'relay-native' },
  { name: 'native-threads / native', top: 'relay-native-threads', bottom: 'relay-native' },
];
const GOAL_MEMBERS = 10;

function summary(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return { median: NaN, min: NaN, max: NaN };
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

const sum = (values) => values.reduce((a, b) => a + b, 0);
const distinct = (samples, key) => [...new Set(samples.map((s) => s[key]))];

/** Calls fn(samplesOfGroup, load, members) for each (load, members), in run order; returns the flattened results. */
function perGroup(samples, fn) {
  return distinct(samples, 'load').flatMap((load) => distinct(samples.filter((s) => s.load === load), 'members')
    .flatMap((members) => fn(samples.filter((s) => s.load === load && s.members === members), load, members)));
}

function row(runs) {
  const perSecond = (key) => summary(runs.map((s) => key(s) / s.wallSeconds));
  return {
    load: runs[0].load,
    lossless: runs[0].lossless,
    members: runs[0].members,
    variant: runs[0].variant,
    runs: runs.length,
    ns: summary(runs.map((s) => s.nsPerSend)),
    cpuShare: perSecond((s) => s.cpuUs / 1e6),
    throughput: perSecond((s) => s.sends),
    sourceShare: summary(runs.map((s) => s.source.cpuUs / 1e6 / s.source.seconds)),
    sent: sum(runs.map((s) => s.source.sent)),
    received: sum(runs.map((s) => s.received)),
    expectedSends: sum(runs.map((s) => s.forwarded)) * runs[0].members,
    sends: sum(runs.map((s) => s.sends)),
    failed: sum(runs.map((s) => s.failed)),
    kernelSends: sum(runs.map((s) => s.kernelSends)),
  };
}

/** Per (load, members, variant): CPU per member-datagram, throughput, losses, and what the source used. */
function aggregate(samples) {
  return perGroup(samples, (group) => distinct(group, 'variant').map((variant) => row(group.filter((s) => s.variant === variant))));
}

/** Per (load, members, ratio): the two variants' CPU per member-datagram divided within each round. */
function ratios(samples) {
  return perGroup(samples, (group, load, members) => RATIOS.map((r) => {
    const perRound = distinct(group, 'round').map((round) => {
      const find = (variant) => group.find((s) => s.round === round && s.variant === variant);
      return find(r.top)?.nsPerSend / find(r.bottom)?.nsPerSend;
    });
    const value = summary(perRound);
    const verdict = r.goal && members === GOAL_MEMBERS ? (r.goal(value.median) ? 'met' : 'NOT met') : '';
    return { load, members, name: r.name, goalText: r.goalText ?? '', ...value, verdict };
  }));
}

const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const range = (s, digits) => `${fixed(s.median, digits)} (${fixed(s.min, digits)}-${fixed(s.max, digits)})`;
const percent = (s) => `${fixed(s.median * 100, 0)}%`;
const thousands = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

function markdownTable(header, lines) {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

function cpuTable(rows) {
  return markdownTable(
    ['members', 'variant', 'ns per member-datagram, median (min-max)', 'forwarded member-datagrams/s', 'relay CPU',
      'per relay CPU-second', 'lost (sent - received)', 'source CPU'],
    rows.map((r) => [r.members, r.variant, range(r.ns, 0), thousands(r.throughput.median), percent(r.cpuShare),
      thousands(1e9 / r.ns.median), thousands(r.sent - r.received), percent(r.sourceShare)]),
  );
}

function ratioTable(list) {
  return markdownTable(
    ['members', 'ratio', `goal (at ${GOAL_MEMBERS} members)`, 'median (min-max) over rounds', 'verdict'],
    list.map((r) => [r.members, r.name, r.goalText, range(r, 2), r.verdict]),
  );
}

/** Counters that disagree: failed sends, losses under a load every relay should take, sends the kernel did not count. */
function anomalies(rows) {
  const lines = [];
  for (const r of rows) {
    const where = `${r.load}, ${r.members} members, ${r.variant}`;
    if (r.failed) lines.push(`${where}: ${r.failed} member sends failed`);
    if (r.sends + r.failed !== r.expectedSends) lines.push(`${where}: ${r.sends + r.failed} sends for ${r.expectedSends} expected`);
    if (r.kernelSends !== r.sends) lines.push(`${where}: the kernel counted ${r.kernelSends} sends, the relay ${r.sends}`);
    if (r.lossless && r.sent !== r.received) lines.push(`${where}: ${r.sent - r.received} of ${r.sent} datagrams not received`);
  }
  return lines;
}

module.exports = { aggregate, ratios, cpuTable, ratioTable, anomalies };
