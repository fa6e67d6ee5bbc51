// The rounds of one scenario on one sink, summarised: per method the median
// and range of datagrams per CPU-second (and per wall-second, per call, the
// event-loop delay, the link sink's goodput), and the ratios to dgram and to
// the C reference taken round by round.
'use strict';
const { DESCRIPTIONS, datagramsPerCall } = require('./scenarios');
const { summary, pairRatios, median } = require('./stats');
const { NOISY_CORES } = require('./noise');

/** The link sink's figures of a method's rounds: goodput (fraction of the rate), receivers' load, drops. */
function linkSummary(runs) {
  const links = runs.map((r) => r?.link);
  const sum = (key) => links.reduce((n, l) => n + (l?.[key] ?? 0), 0);
  return {
    goodputRounds: links.map((l) => l?.goodput ?? NaN),
    goodput: summary(links.map((l) => l?.goodput ?? NaN)),
    receiverCores: summary(links.map((l) => l?.receiverCores ?? NaN)),
    // µs of the sender's CPU per delivered datagram, whoever was charged (see link.js).
    cpuBusyUsPerDatagram: summary(links.map((l) => (l?.cpuBusyUs === undefined ? NaN : l.cpuBusyUs / l.datagrams))),
    waits: summary(runs.map((r) => (r?.waits === undefined ? NaN : r.waits / r.calls))),
    bounces: summary(links.map((l) => l?.bouncesPerDatagram ?? NaN)),
    drops: { receivers: sum('rcvbufErrors') + sum('inErrors'), qdisc: sum('qdiscDrops') },
  };
}

/** Per call (µs of wall time and of CPU) and the event-loop delay (ms), where the runs measured it. */
function callSummary(runs) {
  const callWallRounds = runs.map((r) => (r ? r.wallUs / r.calls : NaN));
  const callCpuRounds = runs.map((r) => (r ? r.cpuUs / r.calls : NaN));
  const out = { callWallRounds, callWallUs: summary(callWallRounds), callCpuRounds, callCpuUs: summary(callCpuRounds) };
  if (runs.some((r) => r?.jsThread)) {
    // µs per call of the JavaScript thread's CPU, and of its waiting for a CPU.
    out.jsThreadCpuUs = summary(runs.map((r) => (r?.jsThread ? r.jsThread.cpuUs / r.calls : NaN)));
    out.jsThreadWaitUs = summary(runs.map((r) => (r?.jsThread ? r.jsThread.waitUs / r.calls : NaN)));
  }
  if (runs.some((r) => r?.loopDelay)) {
    out.loopDelayP99Ms = summary(runs.map((r) => r?.loopDelay?.p99Ms ?? NaN));
    out.loopDelayMaxMs = summary(runs.map((r) => r?.loopDelay?.maxMs ?? NaN));
  }
  return out;
}

/** One method's row from its runs (null: a failed run). */
function methodRow(spec, runs, sink) {
  // On the link sink a datagram counts once delivered (in the run's window).
  const counted = (r) => (r.link ? r.link.datagrams : r.datagrams);
  const dpcs = runs.map((r) => (r ? counted(r) / (r.cpuUs / 1e6) : NaN));
  const wall = runs.map((r) => (r ? counted(r) / (r.wallUs / 1e6) : NaN));
  const zeroCopy = [...new Set(runs.filter(Boolean).map((r) => r.zeroCopy))];
  return {
    name: spec.name,
    about: DESCRIPTIONS[spec.name],
    spec,
    dpcsRounds: dpcs,
    dpcs: summary(dpcs),
    usPerDatagram: 1e6 / median(dpcs),
    wallRounds: wall,
    wall: summary(wall),
    ...callSummary(runs),
    ...(sink.measure ? linkSummary(runs) : {}),
    zeroCopy,
    errors: runs.reduce((n, r) => n + (r?.errors ?? 0), 0),
    firstError: runs.find((r) => r?.firstError)?.firstError ?? '',
    failedRuns: runs.filter((r) => !r).length,
    noisyRuns: runs.filter((r) => r?.otherCores > NOISY_CORES).length,
    // C rows with threads: members per thread ('5011/4989').
    split: runs.find((r) => r?.split && r.threads > 1)?.split,
    runs,
  };
}

/** × dgram and × C (the fastest C row of the method's kind), round by round. */
function addRatios(byName) {
  const dgram = byName.get('dgram');
  for (const row of byName.values()) {
    if (dgram) row.vsDgram = summary(pairRatios(row.dpcsRounds, dgram.dpcsRounds));
    const zc = row.zeroCopy.some((z) => z !== 'off');
    const candidates = (zc ? row.spec.refZc : row.spec.ref).map((n) => byName.get(n)).filter((r) => r && Number.isFinite(r.dpcs.median));
    const ref = candidates.sort((a, b) => b.dpcs.median - a.dpcs.median)[0];
    if (ref) row.vsC = { ref: ref.name, ...summary(pairRatios(row.dpcsRounds, ref.dpcsRounds)) };
  }
}

/** threads scenarios: each row's wall rate over the inline row's (sg-copy; c-uring-send for C rows), round by round. */
function addWallRatios(byName) {
  for (const row of byName.values()) {
    const ref = byName.get(row.name.startsWith('c-') ? 'c-uring-send' : 'sg-copy');
    if (ref && ref !== row) row.wallVsInline = { ref: ref.name, ...summary(pairRatios(row.wallRounds, ref.wallRounds)) };
  }
}

/** Aggregates the rounds of one scenario on one sink (raw: method name -> runs). */
function aggregate(scenario, sink, raw, duration) {
  const byName = new Map(scenario.methods.map((spec) => [spec.name, methodRow(spec, raw.get(spec.name) ?? [], sink)]));
  addRatios(byName);
  if (scenario.perCall) addWallRatios(byName);
  return {
    sink: sink.name,
    name: scenario.name,
    about: scenario.about,
    members: scenario.members,
    payload: scenario.payload,
    segment: scenario.segment ?? 0,
    mtu: sink.mtu,
    linkRate: sink.measure ? sink.rate : undefined,
    duration,
    datagramsPerCall: datagramsPerCall(scenario),
    perCall: Boolean(scenario.perCall),
    methods: [...byName.values()].map(({ spec, ...rest }) => rest),
  };
}

module.exports = { aggregate };
